"""GaussianMixtureGrad and BayesianGaussianMixtureGrad against sklearn, scipy,
GaussianKDE and extrapolated differences."""

import inspect
import pickle
import re
import warnings
from functools import cache

import numpy as np
import pytest
from _data import three_elongated_clusters
from _exact import components_of_sklearn_mixture, mixture_derivatives
from _oracles import assert_close_scaled, assert_on_scale
from numpy.testing import assert_allclose, assert_array_equal
from scipy import linalg, stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

from skdensity import BayesianGaussianMixtureGrad, GaussianKDE, GaussianMixtureGrad
from skdensity._core import log_density_derivatives

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


@cache
def _fitted(kind, covariance_type, d, prior_type=None):
    """A fitted estimator (shared by tests: never mutate it) and its data."""
    X, _ = three_elongated_clusters(240, d)
    if kind == "gmm":
        est = GaussianMixtureGrad(
            n_components=3, covariance_type=covariance_type, random_state=0
        )
    else:
        est = BayesianGaussianMixtureGrad(
            n_components=4,
            covariance_type=covariance_type,
            weight_concentration_prior_type=prior_type,
            max_iter=300,
            random_state=0,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    return est, X


_CASES = [("gmm", ct, None) for ct in COVARIANCE_TYPES] + [
    ("bgm", ct, prior) for ct in COVARIANCE_TYPES for prior in PRIOR_TYPES
]


def _full_covariances(est):
    """``covariances_`` as a (K, d, d) array, read independently of the package."""
    K, d = est.means_.shape
    cov = np.asarray(est.covariances_)
    if est.covariance_type == "full":
        return cov
    if est.covariance_type == "tied":
        return np.broadcast_to(cov, (K, d, d))
    if est.covariance_type == "diag":
        return cov[:, :, None] * np.eye(d)
    return cov[:, None, None] * np.eye(d)


def _queries(est, rng, per_component=2):
    # Points about one standard deviation from each component mean, and the
    # midpoints between means: where f does not underflow.
    covs = _full_covariances(est)
    Q = [
        mu + rng.normal(size=(per_component, mu.size)) @ np.linalg.cholesky(C).T
        for mu, C in zip(est.means_, covs, strict=True)
    ]
    M = est.means_
    Q.append(0.5 * (M[:-1] + M[1:]))
    return np.vstack(Q)


# ---------------------------------------------------------------------------
# Log-density: the core against sklearn's score_samples and scipy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind, covariance_type, prior_type", _CASES)
@pytest.mark.parametrize("d", [1, 2, 5])
def test_core_log_density_equals_parent_score_samples(
    kind, covariance_type, prior_type, d
):
    est, X = _fitted(kind, covariance_type, d, prior_type)
    rng = np.random.default_rng(1)
    Q = np.vstack([X[::7], _queries(est, rng), X.mean(0) + 5 * X.std(0)])
    log_f, _, _ = log_density_derivatives(Q, est._get_mixture())
    exact = mixture_derivatives(Q, components_of_sklearn_mixture(est)).log_f
    scale = np.maximum(1, np.abs(exact))
    assert_on_scale(log_f, exact, scale, 1e-12, "core log f")
    # sklearn whitens uncentred data (x U - mu U) and rounds on |x U|^2, here
    # up to ~1e-13 of max(1, |log f|): the two agree to 1e-11.
    assert_on_scale(log_f, est.score_samples(Q), scale, 1e-11, "sklearn log f")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_density_equals_weighted_sum_of_scipy_normals(covariance_type):
    est, X = _fitted("gmm", covariance_type, 2)
    Q = X[::5]
    covs = _full_covariances(est)
    terms = [
        np.log(w) + stats.multivariate_normal(mu, C).logpdf(Q)
        for w, mu, C in zip(est.weights_, est.means_, covs, strict=True)
    ]
    ref = np.logaddexp.reduce(np.column_stack(terms), axis=1)
    log_f, _, _ = log_density_derivatives(Q, est._get_mixture())
    assert_allclose(log_f, ref, rtol=1e-12)


# ---------------------------------------------------------------------------
# Derivatives against the exact (40-digit) mixture
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind, covariance_type, prior_type", _CASES)
@pytest.mark.parametrize("d", [1, 2, 5])
def test_derivatives_match_exact_reference(kind, covariance_type, prior_type, d):
    est, X = _fitted(kind, covariance_type, d, prior_type)
    rng = np.random.default_rng(2)
    # Near the components, between them, and 4 standard deviations beyond the
    # data, where f is small but representable.
    Q = np.vstack([_queries(est, rng), X.mean(0) + 4 * X.std(0)])
    exact = mixture_derivatives(Q, components_of_sklearn_mixture(est))
    # The reference is the function score_samples computes (for the Bayesian
    # mixture this checks the variational constants it is built with), so its
    # derivatives are the ones the estimator must return. sklearn whitens
    # without centring, x U - mu U, and loses eps |x U|^2 (~1e-13 here, the
    # data sit near 10): 1e-11 keeps a margin and still catches any constant.
    scale = np.maximum(1, np.abs(exact.log_f))
    assert_on_scale(est.score_samples(Q), exact.log_f, scale, 1e-11, "score_samples")
    # The library rounds to ~1e-15 of the natural scale; 1e-10 leaves room
    # for any BLAS while catching every error in a formula.
    for log in (True, False):
        grad, hess, grad_scale, hess_scale = exact.derivatives(log)
        assert_on_scale(est.gradient(Q, log=log), grad, grad_scale, 1e-10, "grad")
        assert_on_scale(est.hessian(Q, log=log), hess, hess_scale, 1e-10, "hess")
        both = est.gradient_and_hessian(Q, log=log)
        assert_on_scale(both[0], grad, grad_scale, 1e-10, "gradient_and_hessian")
        assert_on_scale(both[1], hess, hess_scale, 1e-10, "gradient_and_hessian")


@pytest.mark.parametrize("kind, covariance_type, prior_type", _CASES)
def test_derivative_identities_and_symmetry(kind, covariance_type, prior_type):
    est, X = _fitted(kind, covariance_type, 3, prior_type)
    Q = X[::6]
    g_log, H_log = est.gradient(Q, log=True), est.hessian(Q, log=True)
    g, H = est.gradient(Q), est.hessian(Q)
    assert g.dtype == H.dtype == np.float64
    assert g.shape == (Q.shape[0], 3) and H.shape == (Q.shape[0], 3, 3)
    # On the natural scales (entries near zero cannot be matched relatively),
    # with the exact f: exp(score_samples) carries sklearn's ~1e-13 rounding.
    exact = mixture_derivatives(Q, components_of_sklearn_mixture(est))
    _, _, grad_scale, hess_scale = exact.derivatives(log=False)
    f = exact.f
    assert_on_scale(g, f[:, None] * g_log, grad_scale, 1e-12)
    outer = g_log[:, :, None] * g_log[:, None, :]
    assert_on_scale(H, f[:, None, None] * (H_log + outer), hess_scale, 1e-12)
    assert_array_equal(H_log, H_log.transpose(0, 2, 1))
    assert_array_equal(H, H.transpose(0, 2, 1))


def test_one_component_closed_form():
    # One component: grad log f = P (mu - x) and Hess log f = -P exactly.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 3)) + 2.0
    est = GaussianMixtureGrad(n_components=1).fit(X)
    P = np.linalg.inv(est.covariances_[0])
    Q = rng.normal(size=(6, 3))
    assert_allclose(est.gradient(Q, log=True), (est.means_[0] - Q) @ P, rtol=1e-10)
    assert_allclose(est.hessian(Q, log=True), np.broadcast_to(-P, (6, 3, 3)))


# ---------------------------------------------------------------------------
# Same fit as the parent, drop-in
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fits_exactly_what_gaussian_mixture_fits(covariance_type):
    X, _ = three_elongated_clusters(240, 3)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=4)
    ours = GaussianMixtureGrad(**params).fit(X)
    ref = GaussianMixture(**params).fit(X)
    assert isinstance(ours, GaussianMixture)
    assert ours.get_params() == ref.get_params()
    for name in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        assert_array_equal(getattr(ours, name), getattr(ref, name))
    Q = X[::3] + 0.1
    assert_array_equal(ours.score_samples(Q), ref.score_samples(Q))
    assert_array_equal(ours.predict_proba(Q), ref.predict_proba(Q))
    assert_array_equal(ours.predict(Q), ref.predict(Q))
    assert ours.score(Q) == ref.score(Q)
    assert ours.bic(X) == ref.bic(X)
    assert ours.aic(X) == ref.aic(X)
    assert ours.n_iter_ == ref.n_iter_ and ours.lower_bound_ == ref.lower_bound_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_fits_exactly_what_bayesian_gaussian_mixture_fits(covariance_type, prior_type):
    X, _ = three_elongated_clusters(240, 2)
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        max_iter=300,
        random_state=4,
    )
    ours = BayesianGaussianMixtureGrad(**params).fit(X)
    ref = BayesianGaussianMixture(**params).fit(X)
    assert isinstance(ours, BayesianGaussianMixture)
    assert ours.get_params() == ref.get_params()
    for name in [
        "weights_",
        "means_",
        "covariances_",
        "precisions_cholesky_",
        "mean_precision_",
        "degrees_of_freedom_",
    ]:
        assert_array_equal(getattr(ours, name), getattr(ref, name))
    Q = X[::3] + 0.1
    assert_array_equal(ours.score_samples(Q), ref.score_samples(Q))
    assert_array_equal(ours.predict_proba(Q), ref.predict_proba(Q))
    assert ours.score(Q) == ref.score(Q)


def test_not_the_plug_in_mixture():
    # The Bayesian derivatives are those of exp(score_samples), whose
    # log-weights differ from log(weights_) by the variational constants.
    est, X = _fitted("bgm", "full", 2, "dirichlet_distribution")
    plug_in = GaussianMixtureGrad(n_components=4, covariance_type="full")
    for name in ["weights_", "means_", "covariances_", "precisions_cholesky_"]:
        setattr(plug_in, name, getattr(est, name))
    plug_in.n_features_in_ = 2
    Q = X[::10]
    assert not np.allclose(plug_in.score_samples(Q), est.score_samples(Q))
    assert not np.allclose(plug_in.gradient(Q), est.gradient(Q))


# ---------------------------------------------------------------------------
# A mixture built by hand to equal a KDE
# ---------------------------------------------------------------------------


def _kde_as_mixture(X, H, covariance_type):
    """GaussianMixtureGrad with weights 1/n, means X and covariance H."""
    n, d = X.shape
    L = linalg.cholesky(H, lower=True)
    U = linalg.solve_triangular(L, np.eye(d), lower=True).T  # U U^T = H^-1
    gm = GaussianMixtureGrad(n_components=n, covariance_type=covariance_type)
    gm.weights_ = np.full(n, 1.0 / n)
    gm.means_ = X.copy()
    if covariance_type == "tied":
        gm.covariances_, gm.precisions_cholesky_ = H, U
    elif covariance_type == "full":
        gm.covariances_ = np.broadcast_to(H, (n, d, d)).copy()
        gm.precisions_cholesky_ = np.broadcast_to(U, (n, d, d)).copy()
    elif covariance_type == "diag":
        gm.covariances_ = np.tile(np.diag(H), (n, 1))
        gm.precisions_cholesky_ = 1.0 / np.sqrt(gm.covariances_)
    else:
        gm.covariances_ = np.full(n, H[0, 0])
        gm.precisions_cholesky_ = 1.0 / np.sqrt(gm.covariances_)
    gm.n_features_in_ = d
    return gm


@pytest.mark.parametrize(
    "covariance_type, form",
    [("tied", "matrix"), ("full", "matrix"), ("diag", "diag"), ("spherical", "iso")],
)
def test_hand_built_mixture_equals_gaussian_kde(covariance_type, form):
    X, rng = three_elongated_clusters(60, 3)
    if form == "matrix":
        B = rng.normal(size=(3, 3))
        H = B @ B.T + 0.5 * np.eye(3)
    elif form == "diag":
        H = np.diag([0.4, 1.1, 2.3])
    else:
        H = 0.8 * np.eye(3)
    kde = GaussianKDE(bandwidth=H).fit(X)
    gm = _kde_as_mixture(X, H, covariance_type)
    Q = X[rng.integers(60, size=15)] + rng.normal(size=(15, 3))
    assert_allclose(gm.score_samples(Q), kde.score_samples(Q), rtol=1e-12)
    for log in (True, False):
        assert_close_scaled(gm.gradient(Q, log=log), kde.gradient(Q, log=log), 1e-11)
        assert_close_scaled(gm.hessian(Q, log=log), kde.hessian(Q, log=log), 1e-11)


# ---------------------------------------------------------------------------
# Far from the data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind, covariance_type, prior_type", _CASES)
@pytest.mark.parametrize("distance", [1e3, 1e6, 1e9])
def test_log_derivatives_finite_and_correct_far_away(
    kind, covariance_type, prior_type, distance
):
    # Far away one component carries all the responsibility (sklearn's
    # predict_proba names it), so grad log f = P_k (mu_k - x) and
    # Hess log f = -P_k up to exponentially small terms.
    est, X = _fitted(kind, covariance_type, 2, prior_type)
    u = np.array([0.6, -0.8])
    x = (X.mean(axis=0) + distance * X.std(axis=0) * u)[None, :]
    k = int(np.argmax(est.predict_proba(x)[0]))
    P = np.linalg.inv(_full_covariances(est)[k])
    g, Hl = est.gradient(x, log=True), est.hessian(x, log=True)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(Hl))
    assert_allclose(g[0], P @ (est.means_[k] - x[0]), rtol=1e-9)
    assert_close_scaled(Hl, -P[None], 1e-9)
    log_f, _, _ = log_density_derivatives(x, est._get_mixture())
    assert_allclose(log_f, est.score_samples(x), rtol=1e-9)
    # The density itself underflows to zero, without NaN.
    assert np.all(np.isfinite(est.gradient(x))) and np.all(np.isfinite(est.hessian(x)))


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------


def test_sample_reproducible_with_random_state():
    est, X = _fitted("gmm", "full", 2)
    S1, y1 = est.sample(50, random_state=7)
    S2, y2 = est.sample(50, random_state=7)
    assert_array_equal(S1, S2)
    assert_array_equal(y1, y2)
    assert not np.array_equal(S1, est.sample(50, random_state=8)[0])
    # The same algorithm as sklearn's: equal to the parent seeded likewise.
    ref = GaussianMixture(**est.get_params()).fit(X).set_params(random_state=7)
    assert_array_equal(ref.means_, est.means_)
    assert_array_equal(S1, ref.sample(50)[0])
    # A RandomState instance is advanced, as sklearn does with generators.
    rs = np.random.RandomState(7)
    first, second = est.sample(50, random_state=rs), est.sample(50, random_state=rs)
    assert_array_equal(first[0], S1)
    assert not np.array_equal(first[0], second[0])
    assert est.random_state == 0  # sampling does not touch the estimator


@pytest.mark.parametrize("estimator_seed", [0, None])
def test_sample_without_random_state_is_the_parents(estimator_seed):
    X, _ = three_elongated_clusters(200, 2)
    params = dict(n_components=3, random_state=0)
    ours = GaussianMixtureGrad(**params).fit(X).set_params(random_state=estimator_seed)
    ref = GaussianMixture(**params).fit(X).set_params(random_state=estimator_seed)
    # With random_state=None both draw from numpy's global generator.
    np.random.seed(11)  # noqa: NPY002
    S, y = ours.sample(30)
    np.random.seed(11)  # noqa: NPY002
    S_ref, y_ref = ref.sample(30)
    assert_array_equal(S, S_ref)
    assert_array_equal(y, y_ref)


def test_sample_moments():
    est, _ = _fitted("gmm", "diag", 2)
    S, y = est.sample(100_000, random_state=0)
    assert S.shape == (100_000, 2) and y.shape == (100_000,)
    mean = est.weights_ @ est.means_
    covs = _full_covariances(est)
    diff = est.means_ - mean
    cov = np.einsum("k,kij->ij", est.weights_, covs + diff[:, :, None] * diff[:, None])
    assert_allclose(S.mean(axis=0), mean, atol=0.02 * np.sqrt(np.diag(cov)).max())
    assert_allclose(np.cov(S.T), cov, rtol=0.03, atol=0.03 * np.abs(cov).max())


def test_bayesian_sample_reproducible():
    est, _ = _fitted("bgm", "tied", 2, "dirichlet_process")
    S1, y1 = est.sample(20, random_state=1)
    S2, y2 = est.sample(20, random_state=1)
    assert_array_equal(S1, S2)
    assert_array_equal(y1, y2)


# ---------------------------------------------------------------------------
# Bad input, pickling, cloning
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GaussianMixtureGrad, BayesianGaussianMixtureGrad])
@pytest.mark.parametrize("method", ["gradient", "hessian"])
def test_not_fitted(cls, method):
    with pytest.raises(NotFittedError):
        getattr(cls(), method)(np.zeros((2, 2)))


@pytest.mark.parametrize("cls", [GaussianMixtureGrad, BayesianGaussianMixtureGrad])
def test_sample_not_fitted(cls):
    with pytest.raises(NotFittedError):
        cls().sample(3, random_state=0)


@pytest.mark.parametrize("kind, prior_type", [("gmm", None), ("bgm", PRIOR_TYPES[0])])
@pytest.mark.parametrize("method", ["gradient", "hessian"])
def test_bad_queries(kind, prior_type, method):
    est, _ = _fitted(kind, "full", 2, prior_type)
    func = getattr(est, method)
    with pytest.raises(ValueError, match="3 features"):
        func(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        func(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="infinity"):
        func(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="0 sample"):
        func(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="2D array"):
        func(np.zeros(2))


def test_float32_queries_give_float64():
    est, X = _fitted("gmm", "tied", 2)
    Q = X[:5].astype(np.float32)
    assert est.gradient(Q).dtype == np.float64
    assert est.hessian(Q, log=True).dtype == np.float64
    assert_allclose(
        est.gradient(Q, log=True), est.gradient(Q.astype(np.float64), log=True)
    )


def test_bad_sample_random_state():
    # n_samples is validated as by sklearn: tests/test_mixture_sample.py.
    est, _ = _fitted("gmm", "full", 2)
    with pytest.raises(ValueError, match="RandomState"):
        est.sample(3, random_state="seed")


@pytest.mark.parametrize("cls", [GaussianMixtureGrad, BayesianGaussianMixtureGrad])
def test_failed_fit_leaves_no_fitted_state(cls):
    X, _ = three_elongated_clusters(60, 2)
    est = cls(n_components=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        est.fit(X[:3])
    assert not [name for name in vars(est) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        est.gradient(X[:2])
    X_nan = X.copy()
    X_nan[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X_nan)
    assert not [name for name in vars(est) if name.endswith("_")]


def test_prediction_does_not_mutate():
    est, X = _fitted("bgm", "diag", 2, "dirichlet_process")
    before = pickle.dumps(est)
    est.gradient(X[:5])
    est.hessian(X[:5], log=True)
    est.sample(5, random_state=0)
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("kind, covariance_type, prior_type", _CASES[:5])
def test_pickle_round_trip_and_clone(kind, covariance_type, prior_type):
    est, X = _fitted(kind, covariance_type, 2, prior_type)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.gradient(X[:5]), est.gradient(X[:5]))
    assert_array_equal(restored.hessian(X[:5], log=True), est.hessian(X[:5], log=True))
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    assert not hasattr(fresh, "means_")


@pytest.mark.parametrize("cls", [GaussianMixtureGrad, BayesianGaussianMixtureGrad])
def test_parameter_documentation_matches_get_params(cls):
    # The mixtures' parameter lists are written by hand after scikit-learn's:
    # every parameter documented, in the constructor's order, nothing else.
    doc = cls.__doc__
    section = doc[doc.index("Parameters\n    ----------") :]
    section = section[: section.index("Attributes\n    ----------")]
    documented = re.findall(r"^    (\w+) : ", section, flags=re.MULTILINE)
    assert documented == list(inspect.signature(cls).parameters)
    assert set(documented) == set(cls().get_params())
