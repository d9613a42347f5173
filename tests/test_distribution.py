"""Marginals, conditionals, box probabilities, CDFs, Gaussian integrals and
density levels, against independent oracles.

Oracles and their accuracy:

* :class:`scipy.stats.gaussian_kde` (the same model for the Scott/Silverman
  KDE): its ``marginal``, ``integrate_gaussian``, ``integrate_kde`` and
  ``integrate_box_1d`` are closed forms, exact to rounding (~1e-15); its 2-D
  ``integrate_box`` sums Genz's bivariate normal CDF (1e-15 absolute); its
  3-D ``integrate_box`` is randomised QMC to an absolute error of 1e-5 (three
  standard errors), so that comparison has a tolerance of 1e-4.
* Explicit mixtures of :mod:`scipy.stats.multivariate_normal` built from the
  public fitted attributes (``weights_``, ``means_``, ``covariances_``, each
  ``covariance_type`` expanded here by hand), exact to rounding; for the
  Bayesian mixture the log-weights come from ``tests/_exact.py`` (mpmath).
* :func:`scipy.integrate.cubature` / :func:`scipy.integrate.quad` of
  ``exp(score_samples)`` on small boxes (requested ``rtol`` 1e-12, reported
  error bounds checked to be 10x below the tolerance).
* Bayes' rule evaluated pointwise, ``f(x, v) / f_g(v)``, with ``f`` the
  parent's own ``score_samples`` (scikit-learn's, for the mixtures) and
  ``f_g(v)`` the explicit mixture or a quadrature of ``f``.
* For density levels, the exact level of a Gaussian: :math:`\\{f \\ge c\\}` is
  an ellipsoid of :math:`\\chi^2_d` probability.
"""

from functools import cache

import numpy as np
import pytest
from _exact import _variational_log_weights
from numpy.testing import assert_allclose
from scipy import integrate, stats
from scipy.special import logsumexp
from sklearn import config_context
from sklearn.exceptions import NotFittedError

from skdensity import (
    BayesianGaussianMixtureGrad,
    GaussianKDE,
    GaussianMixtureGrad,
    find_modes,
)
from skdensity._core import SharedPrecisionMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
RULES = ["scott", "silverman"]


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    A = np.triu(rng.uniform(-0.6, 0.6, size=(d, d))) + np.eye(d)
    parts = [rng.normal(size=(n // 2, d)) @ A, rng.normal(size=(n - n // 2, d)) * 0.6]
    parts[1] += 2.0
    return np.vstack(parts)


@cache
def _kde(rule, d, weighted=False):
    X = _data(120, d)
    w = np.random.default_rng(1).uniform(0.2, 2.0, len(X)) if weighted else None
    ours = GaussianKDE(rule).fit(X, sample_weight=w)
    theirs = stats.gaussian_kde(X.T, bw_method=rule, weights=w)
    return ours, theirs


@cache
def _mixture(kind, covariance_type, d):
    X = _data(200, d)
    cls = GaussianMixtureGrad if kind == "gmm" else BayesianGaussianMixtureGrad
    est = cls(n_components=3, covariance_type=covariance_type, random_state=0)
    return est.fit(X)


def _explicit(est):
    """(weights, means, covariances (K, d, d)) from public attributes, by hand."""
    K, d = est.means_.shape
    cov = np.asarray(est.covariances_)
    kind = est.covariance_type
    if kind == "tied":
        cov = np.repeat(cov[None], K, axis=0)
    elif kind == "diag":
        cov = np.array([np.diag(c) for c in cov])
    elif kind == "spherical":
        cov = np.array([c * np.eye(d) for c in cov])
    if hasattr(est, "weight_concentration_"):
        log_w = np.array([float(a) for a in _variational_log_weights(est)])
    else:
        log_w = np.log(est.weights_)
    return np.exp(log_w - logsumexp(log_w)), est.means_, cov


def _explicit_pdf(params, X, features=None):
    weights, means, covs = params
    idx = np.arange(means.shape[1]) if features is None else np.asarray(features)
    return sum(
        w * stats.multivariate_normal.pdf(X, mean=mu[idx], cov=c[np.ix_(idx, idx)])
        for w, mu, c in zip(weights, means, covs, strict=True)
    )


def _all_estimators():
    out = [("kde", rule) for rule in RULES]
    for kind in ("gmm", "bgm"):
        out += [(kind, ct) for ct in COVARIANCE_TYPES]
    return out


def _estimator(kind, param, d):
    return _kde(param, d)[0] if kind == "kde" else _mixture(kind, param, d)


# ---------------------------------------------------------------------------
# Against scipy.stats.gaussian_kde
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rule", RULES)
def test_kde_matches_scipy(rule, weighted):
    ours, theirs = _kde(rule, 3, weighted)
    rng = np.random.default_rng(2)
    # marginal, in the order given (scipy keeps it too)
    Q = rng.normal(size=(7, 2))
    assert_allclose(
        ours.marginal([2, 0]).score_samples(Q),
        theirs.marginal([2, 0]).logpdf(Q.T),
        rtol=0,
        atol=1e-10,
    )
    # integrate_gaussian
    mean, cov = np.array([0.3, -0.2, 1.0]), np.diag([0.5, 0.2, 0.1]) + 0.05
    assert_allclose(
        ours.integrate_gaussian(mean, cov),
        theirs.integrate_gaussian(mean, cov),
        rtol=1e-10,
    )
    # integrate_kde / integrate_product, with a KDE of other data and bandwidth
    other_X = _data(50, 3, seed=5)
    other, other_scipy = (
        GaussianKDE(rule).fit(other_X),
        stats.gaussian_kde(other_X.T, bw_method=rule),
    )
    expected = theirs.integrate_kde(other_scipy)
    assert_allclose(ours.integrate_kde(other), expected, rtol=1e-10)
    assert_allclose(other.integrate_product(ours), expected, rtol=1e-10)
    # integrate_box_1d on a marginal, and 2-D boxes (Genz's bivariate CDF)
    m1, s1 = ours.marginal([1]), theirs.marginal([1])
    for low, high in [(-0.5, 0.7), (2.0, 9.0), (-np.inf, 0.1), (0.4, -0.3)]:
        assert_allclose(
            m1.integrate_box_1d(low, high),
            s1.integrate_box_1d(low, high),
            rtol=1e-10,
            atol=1e-15,
        )
    m2, s2 = ours.marginal([0, 2]), theirs.marginal([0, 2])
    for low, high in [([-0.5, -1.0], [0.7, 0.3]), ([1.0, 0.0], [3.0, 4.0])]:
        assert_allclose(
            m2.integrate_box(low, high),
            s2.integrate_box(np.array(low), np.array(high)),
            rtol=1e-10,
        )


def test_kde_box_3d_matches_scipy():
    # scipy's QMC is accurate to abseps = 1e-5 (three standard errors); ours
    # is asked for 1e-7: the tolerance is 10x the oracle's error.
    X = _data(20, 3)
    ours, theirs = GaussianKDE().fit(X), stats.gaussian_kde(X.T)
    low, high = np.array([-0.5, -1.0, -1.0]), np.array([0.7, 0.3, 0.5])
    value = ours.integrate_box(low, high, abseps=1e-7, random_state=0)
    assert_allclose(value, theirs.integrate_box(low, high, rng=1), atol=1e-4)


# ---------------------------------------------------------------------------
# Against explicit multivariate_normal mixtures
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gmm", "bgm"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_marginal_and_integrals_match_explicit_mixtures(kind, covariance_type):
    est = _mixture(kind, covariance_type, 3)
    params = _explicit(est)
    rng = np.random.default_rng(3)
    # marginal: same covariance_type, the normalised density of the features
    marginal = est.marginal([2, 0])
    assert isinstance(marginal, GaussianMixtureGrad)
    assert marginal.covariance_type == covariance_type
    Q = rng.normal(size=(6, 2)) + 1
    expected = np.log(_explicit_pdf(params, Q, [2, 0]))
    assert_allclose(marginal.score_samples(Q), expected, rtol=0, atol=1e-10)
    # integrate_gaussian: sum_k w_k N(m; mu_k, Sigma_k + C)
    m, C = (
        np.array([0.5, 1.0, 0.0]),
        np.array([[0.3, 0.1, 0], [0.1, 0.2, 0], [0, 0, 1]]),
    )
    expected = sum(
        w * stats.multivariate_normal.pdf(m, mean=mu, cov=c + C)
        for w, mu, c in zip(*params, strict=True)
    )
    assert_allclose(est.integrate_gaussian(m, C), expected, rtol=1e-10)
    # cdf in 2-D (Genz's bivariate algorithm, 1e-15) of the marginal
    X2 = rng.normal(size=(4, 2)) + 1
    expected = sum(
        w * stats.multivariate_normal.cdf(X2, mean=mu[[0, 1]], cov=c[:2, :2])
        for w, mu, c in zip(*params, strict=True)
    )
    assert_allclose(est.marginal([0, 1]).cdf(X2), expected, rtol=1e-10, atol=1e-15)
    # cdf in 1-D: sum_k w_k Phi((x - mu_k) / sigma_k), exact
    x = np.array([-3.0, 0.0, 1.5, 40.0])
    expected = sum(
        w * stats.norm.cdf(x, loc=mu[1], scale=np.sqrt(c[1, 1]))
        for w, mu, c in zip(*params, strict=True)
    )
    assert_allclose(est.marginal([1]).cdf(x[:, None]), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "pair",
    [("full", "diag"), ("spherical", "kde"), ("tied", "full"), ("bgm", "kde")],
)
def test_integrate_product_matches_explicit_double_sum(pair):
    def get(kind):
        if kind == "kde":
            return _kde("scott", 2)[0]
        if kind == "bgm":  # normalised: weights e^(a_k) / Z
            return _mixture("bgm", "full", 2)
        return _mixture("gmm", kind, 2)

    def parts(est):
        if isinstance(est, GaussianKDE):
            K = len(est.weights_)
            return est.weights_, est.X_fit_, np.repeat(est.covariance_[None], K, 0)
        return _explicit(est)

    f, g = get(pair[0]), get(pair[1])
    expected = sum(
        w * v * stats.multivariate_normal.pdf(mu, mean=nu, cov=S + G)
        for w, mu, S in zip(*parts(f), strict=True)
        for v, nu, G in zip(*parts(g), strict=True)
    )
    assert_allclose(f.integrate_product(g), expected, rtol=1e-10)
    assert_allclose(g.integrate_product(f), expected, rtol=1e-10)


def test_integrate_gaussian_with_zero_covariance_is_the_density():
    est = _mixture("gmm", "full", 2)
    X = np.array([[0.1, 0.2], [2.0, 2.5]])
    assert_allclose(
        est.integrate_gaussian(X, np.zeros((2, 2))),
        np.exp(est.score_samples(X)),
        rtol=1e-12,
    )


# ---------------------------------------------------------------------------
# Against numerical integration of score_samples on small boxes
# ---------------------------------------------------------------------------


def _density(est):
    return lambda x: np.exp(est.score_samples(np.atleast_2d(x)))


@pytest.mark.parametrize("kind,param", [("kde", "scott"), ("gmm", "full")])
def test_boxes_match_cubature_of_score_samples(kind, param):
    # 1-D: quad of exp(score_samples); 2-D: cubature (vectorised). Requested
    # accuracy 1e-12; the reported error bound is checked to be below 1e-11,
    # 10x under the tolerance 1e-10.
    est2 = _estimator(kind, param, 2)
    est1 = est2.marginal([1])
    for low, high in [(-0.3, 0.2), (1.9, 2.4), (3.0, 3.5)]:
        value, error = integrate.quad(
            lambda t: _density(est1)(np.array([[t]]))[0],
            low,
            high,
            epsabs=1e-14,
            epsrel=1e-12,
        )
        assert error < 1e-11
        assert_allclose(est1.integrate_box_1d(low, high), value, rtol=0, atol=1e-10)
    for low, high in [([-0.3, -0.2], [0.4, 0.5]), ([1.8, 1.7], [2.3, 2.1])]:
        res = integrate.cubature(_density(est2), low, high, rtol=1e-12, atol=1e-15)
        assert res.status == "converged" and res.error < 1e-11
        assert_allclose(est2.integrate_box(low, high), res.estimate, atol=1e-10)
    # cdf: the box from far below (mass there < 1e-30) to x
    x = np.array([[0.5, 1.0]])
    res = integrate.cubature(_density(est2), [-40, -40], x[0], rtol=1e-12, atol=1e-15)
    assert res.status == "converged" and res.error < 1e-11
    assert_allclose(est2.cdf(x), [res.estimate], atol=1e-10)


def test_vectorised_boxes_and_far_tails():
    est = _mixture("gmm", "full", 2)
    low = np.array([[-0.5, -1.0], [0.0, 0.0], [1.0, -np.inf]])
    high = np.array([[0.7, 0.3], [2.0, 3.0], [np.inf, 1.0]])
    expected = [est.integrate_box(lo, hi) for lo, hi in zip(low, high, strict=True)]
    assert_allclose(est.integrate_box(low, high), expected, rtol=1e-14)
    one_d = est.marginal([0])
    ends = np.array([[-1.0, 0.5], [2.0, 4.0]])
    assert one_d.integrate_box_1d(ends, ends + 1).shape == (2, 2)
    # far in the upper tail the interval keeps its relative precision
    # (norm.sf is exact there; a difference of CDFs would give 0)
    kde = GaussianKDE(bandwidth=1.0).fit([[0.0]])
    assert_allclose(
        kde.integrate_box_1d(9.0, 10.0),
        stats.norm.sf(9) - stats.norm.sf(10),
        rtol=1e-12,
    )
    assert_allclose(kde.cdf([[-40.0]]), [stats.norm.cdf(-40)], rtol=1e-12)


def test_total_probability_is_one_for_every_estimator():
    for kind, param in _all_estimators():
        est = _estimator(kind, param, 2)
        inf = np.full(2, np.inf)
        assert_allclose(est.integrate_box(-inf, inf), 1.0, rtol=1e-12)
        assert_allclose(est.cdf([[np.inf, np.inf]]), [1.0], rtol=1e-12)
        assert_allclose(est.marginal([0]).integrate_box_1d(-np.inf, np.inf), 1.0)


def test_bayesian_probabilities_are_of_the_normalised_density():
    # exp(score_samples) of the variational mixture integrates to Z < 1;
    # probabilities and integrals are those of exp(score_samples) / Z.
    est = _mixture("bgm", "full", 2).marginal([0])
    parent = _mixture("bgm", "full", 2)
    f = _density(parent)
    Z = integrate.cubature(f, [-30, -30], [30, 30], rtol=1e-11).estimate
    assert Z < 0.999
    box = integrate.cubature(f, [-0.3, -30], [0.4, 30], rtol=1e-11).estimate
    assert_allclose(est.integrate_box_1d(-0.3, 0.4), box / Z, rtol=1e-8)


# ---------------------------------------------------------------------------
# Conditionals: Bayes' rule pointwise, for every estimator and covariance_type
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind,param", _all_estimators())
def test_conditional_is_bayes_rule(kind, param):
    # f(x0, v, x2) / f_1(v), f the parent's own score_samples and f_1(v) the
    # explicit marginal (or the KDE's by scipy): exact to rounding.
    est = _estimator(kind, param, 3)
    v = 0.7
    cond = est.conditional([1], [v])
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(6, 2)) + 1
    full = np.column_stack([Y[:, 0], np.full(len(Y), v), Y[:, 1]])
    if kind == "kde":
        log_marginal = _kde(param, 3)[1].marginal([1]).logpdf([v])[0]
        log_joint = est.score_samples(full)
    else:
        params = _explicit(est)
        log_marginal = np.log(_explicit_pdf(params, np.array([[v]]), [1]))
        log_joint = np.log(_explicit_pdf(params, full))
        # the parent's own density is the explicit one, up to normalisation
        offset = est.score_samples(full) - log_joint
        assert_allclose(offset, offset[0], atol=1e-10)
    assert_allclose(cond.score_samples(Y), log_joint - log_marginal, atol=1e-10)
    # the kind is kept, and a KDE's conditional keeps one shared covariance
    if kind == "kde":
        assert isinstance(cond, GaussianKDE)
        assert isinstance(cond._get_mixture(), SharedPrecisionMixture)
    else:
        assert isinstance(cond, GaussianMixtureGrad)
        assert cond.covariance_type == param
        shared = isinstance(cond._get_mixture(), SharedPrecisionMixture)
        assert shared == (param == "tied")
    assert cond.n_features_in_ == 2


@pytest.mark.parametrize(
    "kind,param", [("kde", "scott"), ("gmm", "full"), ("bgm", "diag")]
)
def test_conditional_moments_match_quadrature(kind, param):
    # E[x1 | x0 = v] and Var[x1 | x0 = v] by cubature of the parent's density
    # along the slice (Bayes' rule), rtol 1e-12.
    est = _estimator(kind, param, 2)
    f = _density(est)
    values = np.array([[-0.5], [0.8], [2.2]])
    mean = est.conditional_mean([0], values)
    cov = est.conditional_covariance([0], values)
    assert mean.shape == (3, 1) and cov.shape == (3, 1, 1)
    powers = np.arange(3)
    for (v,), m, c in zip(values, mean, cov, strict=True):

        def moments(t, v=v):
            x = np.column_stack([np.full(len(t), v), t[:, 0]])
            return f(x)[:, None] * t**powers

        res = integrate.cubature(moments, [-25], [25], rtol=1e-12, atol=0)
        assert res.status == "converged"
        m0, m1, m2 = res.estimate
        assert_allclose(m, [m1 / m0], rtol=1e-9)
        assert_allclose(c, [[m2 / m0 - (m1 / m0) ** 2]], rtol=1e-8)
    # one point gives unbatched shapes, the same numbers
    assert_allclose(est.conditional_mean([0], values[1]), mean[1], rtol=1e-14)
    assert est.conditional_covariance([0], values[1]).shape == (1, 1)


def test_conditional_moments_do_not_depend_on_the_chunking():
    est = _kde("scott", 3)[0]
    V = np.random.default_rng(0).normal(size=(40, 1))
    mean, cov = est.conditional_mean([2], V), est.conditional_covariance([2], V)
    with config_context(working_memory=0.01):
        assert_allclose(est.conditional_mean([2], V), mean, rtol=1e-14)
        assert_allclose(est.conditional_covariance([2], V), cov, rtol=1e-14)


def test_conditional_far_from_the_data_is_a_proper_density():
    # 1e3 kernel widths away every kernel weight underflows in float64;
    # the log-space weights still give the nearest kernels' density.
    est = _kde("scott", 2)[0]
    v = 1e3 * np.sqrt(est.covariance_[0, 0])
    cond = est.conditional([0], [v])
    assert np.isclose(cond.weights_.sum(), 1.0)
    Y = np.array([[cond.weights_ @ cond.X_fit_[:, 0]]])
    joint = est.score_samples(np.column_stack([np.full(len(Y), v), Y[:, 0]]))
    log_marginal = _kde("scott", 2)[1].marginal([0]).logpdf([v])
    assert np.all(np.isfinite(cond.score_samples(Y)))
    if np.isfinite(log_marginal[0]):  # scipy's log-sum-exp is finite there too
        assert_allclose(cond.score_samples(Y), joint - log_marginal, atol=1e-8)
    assert_allclose(cond.integrate_box_1d(-np.inf, np.inf), 1.0)


def test_returned_estimators_work_with_modes_and_sampling():
    est = _mixture("gmm", "full", 3)
    cond = est.conditional([0, 2], [0.0, 0.5])
    result = find_modes(cond)
    assert len(result.modes) >= 1
    assert_allclose(cond.gradient(result.modes, log=True), 0, atol=1e-6)
    Xs, ys = cond.sample(5, random_state=0)
    assert Xs.shape == (5, 1)
    kde_cond = _kde("scott", 3)[0].conditional([1], [0.5])
    assert len(find_modes(kde_cond).modes) >= 1
    assert kde_cond.sample(3, random_state=0).shape == (3, 2)


def test_kde_settings_are_carried_and_the_marginal_refits_the_same():
    X = _data(200, 3)
    kde = GaussianKDE("scott", algorithm="tree", rtol=1e-6).fit(X)
    m = kde.marginal([0, 1])
    assert m.algorithm == "tree" and m.rtol == 1e-6
    assert_allclose(m.X_fit_, X[:, :2])
    assert_allclose(m.covariance_, kde.covariance_[:2, :2])
    refit = GaussianKDE(m.covariance_).fit(X[:, :2])
    Q = X[:5, :2] + 0.1
    assert_allclose(m.score_samples(Q), refit.score_samples(Q), atol=1e-10)


def test_features_by_name():
    pd = pytest.importorskip("pandas")
    X = _data(100, 3)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    kde = GaussianKDE().fit(df)
    m = kde.marginal(["c", "a"])
    assert list(m.feature_names_in_) == ["c", "a"]
    assert_allclose(m.covariance_, kde.marginal([2, 0]).covariance_)
    cond = kde.conditional("b", 0.3)
    assert list(cond.feature_names_in_) == ["a", "c"]
    by_index = GaussianKDE().fit(X).conditional([1], [0.3])
    assert_allclose(
        cond.score_samples(pd.DataFrame([[0.1, 0.2]], columns=["a", "c"])),
        by_index.score_samples(np.array([[0.1, 0.2]])),
    )
    gm = GaussianMixtureGrad(n_components=2, random_state=0).fit(df)
    assert list(gm.marginal(["b"]).feature_names_in_) == ["b"]
    assert_allclose(kde.conditional_mean("b", [0.3]), kde.conditional_mean(1, [0.3]))


# ---------------------------------------------------------------------------
# Density levels
# ---------------------------------------------------------------------------


def test_density_level_of_a_gaussian():
    # One kernel: f = N(0, H), {f >= c} is an ellipsoid of chi2_d probability,
    # c = (2 pi)^(-d/2) |H|^(-1/2) exp(-chi2_d(p) / 2). Over 40 seeds the
    # levels scatter as level_std says and cover prob as coverage_std says.
    H = np.array([[1.0, 0.6], [0.6, 2.0]])
    kde = GaussianKDE(H).fit([[0.0, 0.0]])
    prob = np.array([0.5, 0.9, 0.99])
    exact = np.exp(-stats.chi2.ppf(prob, 2) / 2) / (
        2 * np.pi * np.sqrt(np.linalg.det(H))
    )
    runs = [kde.density_level(prob, n_samples=4000, random_state=s) for s in range(40)]
    levels = np.array([r.level for r in runs])
    level_std = np.mean([r.level_std for r in runs], axis=0)
    assert np.all(np.abs(levels.mean(axis=0) - exact) < 4 * level_std / np.sqrt(40))
    assert_allclose(levels.std(axis=0), level_std, rtol=0.4)
    # the probability {f >= level} actually holds, exactly by chi2
    norm = 2 * np.pi * np.sqrt(np.linalg.det(H))
    coverage = stats.chi2.cdf(-2 * np.log(levels * norm), 2)
    assert_allclose(coverage.std(axis=0), runs[0].coverage_std, rtol=0.4)
    assert_allclose(runs[0].coverage_std, np.sqrt(prob * (1 - prob) / 4000), rtol=0.01)
    assert_allclose(runs[0].log_level, np.log(runs[0].level))


def test_density_level_of_the_bayesian_mixture_uses_its_own_density():
    # P(f(X) >= level) = prob for X from the normalised variational density
    # (not from sample(), the plug-in mixture of weights_), estimated from
    # 200 000 draws of the explicit mixture (standard error 0.0009).
    est = _mixture("bgm", "full", 2)
    res = est.density_level(0.8, n_samples=20_000, random_state=0)
    assert isinstance(res.level, float)
    weights, means, covs = _explicit(est)
    rng = np.random.default_rng(7)
    counts = rng.multinomial(200_000, weights)
    draws = np.vstack(
        [
            rng.multivariate_normal(mu, c, size=n)
            for mu, c, n in zip(means, covs, counts, strict=True)
        ]
    )
    held = np.mean(est.score_samples(draws) >= res.log_level)
    assert abs(held - 0.8) < 4 * np.hypot(res.coverage_std, 0.0009)


def test_density_level_is_reproducible():
    est = _kde("scott", 2)[0]
    a = est.density_level([0.5, 0.9], random_state=3)
    b = est.density_level([0.5, 0.9], random_state=3)
    assert_allclose(a.level, b.level, rtol=0)
    assert a.level.shape == (2,)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_errors_say_what_to_do():
    kde = _kde("scott", 3)[0]
    cases = [
        (lambda: kde.marginal([]), "empty"),
        (lambda: kde.marginal([0, 0]), "twice"),
        (lambda: kde.marginal([3]), "out of range"),
        (lambda: kde.marginal(["a"]), "without feature names"),
        (lambda: kde.marginal([0.5]), "indices or feature names"),
        (lambda: kde.conditional([0, 1, 2], [0, 0, 0]), "nothing is left"),
        (lambda: kde.conditional([0], [0.0, 1.0]), r"shape \(1,\)"),
        (lambda: kde.conditional([0], [np.nan]), "NaN"),
        (lambda: kde.conditional([0], [[0.0], [1.0]]), "conditional_mean"),
        (lambda: kde.integrate_box_1d(0, 1), "marginal"),
        (lambda: kde.integrate_box([0, 0], [1, 1, 1]), "shape"),
        (lambda: kde.integrate_box([np.nan, 0, 0], [1, 1, 1]), "NaN"),
        (lambda: kde.integrate_gaussian([0, 0, 0], np.eye(2)), r"\(3, 3\)"),
        (lambda: kde.integrate_gaussian([0, 0, 0], -np.eye(3)), "semi-definite"),
        (lambda: kde.integrate_product(_kde("scott", 2)[0]), "features"),
        (lambda: kde.integrate_product("kde"), "fitted GaussianKDE"),
        (lambda: kde.density_level(1.0), "strictly between"),
        (lambda: kde.density_level(0.5, n_samples=1), "n_samples"),
        (lambda: kde.density_level(0.5, random_state="x"), "random_state"),
        (lambda: kde.cdf([[np.nan, 0, 0]]), "NaN"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize(
    "method,args",
    [
        ("marginal", ([0],)),
        ("conditional", ([0], [0.0])),
        ("conditional_mean", ([0], [0.0])),
        ("cdf", ([[0.0, 0.0]],)),
        ("integrate_box", ([0, 0], [1, 1])),
        ("integrate_gaussian", ([0, 0], np.eye(2))),
        ("density_level", (0.5,)),
    ],
)
@pytest.mark.parametrize("cls", [GaussianKDE, GaussianMixtureGrad])
def test_not_fitted(cls, method, args):
    with pytest.raises(NotFittedError):
        getattr(cls(), method)(*args)


def test_reversed_box_is_negative_as_in_scipy():
    est = _kde("scott", 2)[0]
    p = est.integrate_box([0.0, 0.0], [1.0, 1.0])
    assert p > 0
    assert_allclose(est.integrate_box([1.0, 0.0], [0.0, 1.0]), -p, rtol=1e-12)
