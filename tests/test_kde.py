"""GaussianKDE against scipy, sklearn, explicit mixtures and differences."""

import pickle

import numpy as np
import pytest
from _data import offset_correlated
from _exact import (
    components_from_covariances,
    log_weights_from_weights,
    mixture_derivatives,
)
from _oracles import assert_close_scaled, assert_on_scale
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from sklearn import config_context
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skdensity import GaussianKDE
from skdensity.datasets import load_faithful


def _queries(X, m, rng):
    # Query points spread over and somewhat beyond the data.
    idx = rng.integers(X.shape[0], size=m)
    return X[idx] + rng.normal(scale=X.std(axis=0), size=(m, X.shape[1]))


# ---------------------------------------------------------------------------
# Oracles: scipy, sklearn, explicit mixtures
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("rule", ["scott", "silverman"])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_scipy_gaussian_kde(d, rule, weighted):
    X, rng = offset_correlated(150, d)
    w = rng.uniform(0.1, 3.0, size=150) if weighted else None
    Q = _queries(X, 40, rng)
    kde = GaussianKDE(bandwidth=rule).fit(X, sample_weight=w)
    ref = stats.gaussian_kde(X.T, bw_method=rule, weights=w)
    assert_allclose(kde.score_samples(Q), ref.logpdf(Q.T), rtol=1e-10)
    assert_allclose(kde.covariance_, ref.covariance, rtol=1e-12)
    assert_allclose(kde.factor_, ref.factor, rtol=1e-14)
    assert_allclose(kde.n_eff_, ref.neff, rtol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_sklearn_kernel_density(d, weighted):
    X, rng = offset_correlated(200, d)
    w = rng.uniform(0.1, 3.0, size=200) if weighted else None
    Q = _queries(X, 30, rng)
    h = 0.8
    kde = GaussianKDE(bandwidth=h).fit(X, sample_weight=w)
    ref = KernelDensity(bandwidth=h, rtol=0, atol=0, algorithm="kd_tree")
    ref.fit(X, sample_weight=w)
    assert_allclose(kde.score_samples(Q), ref.score_samples(Q), rtol=1e-10)
    assert_allclose(kde.score(Q), ref.score(Q), rtol=1e-10)


@pytest.mark.parametrize("form", ["per_feature", "matrix"])
def test_equals_explicit_mixture_of_multivariate_normals(form):
    X, rng = offset_correlated(30, 3)
    if form == "per_feature":
        bandwidth = np.array([0.3, 0.7, 1.2])
        H = np.diag(bandwidth**2)
    else:
        B = rng.normal(size=(3, 3))
        H = B @ B.T + 0.5 * np.eye(3)
        bandwidth = H
    w = rng.uniform(0, 2, size=30)
    w[3] = 0.0  # a zero weight drops the point
    Q = _queries(X, 25, rng)
    kde = GaussianKDE(bandwidth=bandwidth).fit(X, sample_weight=w)
    dens = sum(
        wi / w.sum() * stats.multivariate_normal(xi, H).pdf(Q)
        for xi, wi in zip(X, w, strict=True)
    )
    assert_allclose(kde.score_samples(Q), np.log(dens), rtol=1e-12)
    assert_allclose(kde.covariance_, H)
    assert kde.X_fit_.shape == (29, 3)
    assert kde.factor_ is None


# ---------------------------------------------------------------------------
# Derivatives against the exact (40-digit) mixture of kernels
# ---------------------------------------------------------------------------


def _exact_kde(X, H, Q, sample_weight=None):
    """The exact KDE sum_i w_i N(q; x_i, H) and its derivatives, from the
    definition (weights normalised here, zero weights dropped)."""
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight)
    keep = w > 0
    components = components_from_covariances(
        log_weights_from_weights(w[keep]), X[keep], H
    )
    return mixture_derivatives(Q, components)


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("bandwidth", ["scott", 0.9, "per_feature", "matrix"])
def test_derivatives_match_exact_reference(d, bandwidth):
    X, rng = offset_correlated(50, d)
    w = None
    if bandwidth == "per_feature":
        bandwidth = rng.uniform(0.3, 1.5, size=d)
    elif bandwidth == "matrix":
        B = rng.normal(size=(d, d))
        bandwidth = B @ B.T + np.eye(d)
        w = rng.uniform(0, 2, size=50)
        w[7] = 0.0
    kde = GaussianKDE(bandwidth=bandwidth).fit(X, sample_weight=w)
    # Within about a kernel width of the data, and 6 kernel widths beyond it
    # (f small; for d = 5 it underflows: compared absolutely below 1e-300).
    L = np.linalg.cholesky(kde.covariance_)
    Q = X[rng.integers(50, size=7)] + rng.normal(size=(7, d)) @ L.T
    Q = np.vstack([Q, X.max(axis=0) + 6 * np.sqrt(np.diag(kde.covariance_))])
    exact = _exact_kde(X, kde.covariance_, Q, w)
    scale = np.maximum(1, np.abs(exact.log_f))
    assert_on_scale(kde.score_samples(Q), exact.log_f, scale, 1e-12, "score_samples")
    # The library rounds to ~1e-15 of the natural scale; 1e-10 leaves room
    # for any BLAS while catching every error in a formula.
    for log in (True, False):
        grad, hess, grad_scale, hess_scale = exact.derivatives(log)
        assert_on_scale(kde.gradient(Q, log=log), grad, grad_scale, 1e-10, "grad")
        assert_on_scale(kde.hessian(Q, log=log), hess, hess_scale, 1e-10, "hess")


@pytest.mark.parametrize("log", [True, False])
def test_gradient_and_hessian_in_one_evaluation(log):
    X, rng = offset_correlated(50, 3)
    kde = GaussianKDE(bandwidth="scott").fit(X)
    L = np.linalg.cholesky(kde.covariance_)
    Q = X[rng.integers(50, size=6)] + rng.normal(size=(6, 3)) @ L.T
    grad, hess = kde.gradient_and_hessian(Q, log=log)
    exact_grad, exact_hess, grad_scale, hess_scale = _exact_kde(
        X, kde.covariance_, Q
    ).derivatives(log)
    assert_on_scale(grad, exact_grad, grad_scale, 1e-10, "grad")
    assert_on_scale(hess, exact_hess, hess_scale, 1e-10, "hess")
    # The same numbers as the two separate methods, up to summation order.
    assert_close_scaled(grad, kde.gradient(Q, log=log), 1e-13)
    assert_allclose(hess, kde.hessian(Q, log=log), rtol=0, atol=0)


def test_one_dimensional_closed_form():
    # f(x) = N(x; 0, h^2): grad log f = -x / h^2, Hess log f = -1 / h^2.
    kde = GaussianKDE(bandwidth=0.5).fit([[0.0]])
    x = np.array([[-1.0], [0.3], [2.0]])
    assert_allclose(kde.gradient(x, log=True), -x / 0.25, rtol=1e-14)
    assert_allclose(kde.hessian(x, log=True), np.full((3, 1, 1), -4.0), rtol=1e-14)
    pdf = stats.norm(0, 0.5).pdf(x)
    assert_allclose(kde.gradient(x), -x / 0.25 * pdf, rtol=1e-13)
    assert_allclose(kde.hessian(x)[:, 0, 0], (x[:, 0] ** 2 / 0.0625 - 4) * pdf[:, 0])


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


def _natural_scales(kde, grad_log, hess_log):
    """Per-point scales on which float64 evaluations of the log-derivatives
    round: |P|^(1/2) + |grad log f| and |P| + |grad log f|^2 + |Hess log f|
    (max norms, P the kernel precision). Multiply by f for the density scale.
    """
    P = np.abs(np.linalg.inv(kde.covariance_)).max()
    g = np.abs(grad_log).max(axis=1)
    return np.sqrt(P) + g, P + g**2 + np.abs(hess_log).max(axis=(1, 2))


def _assert_same_density(kde, other, Q, rtol):
    """Two fits of one density agree on log f, f and all derivatives to
    ``rtol`` of their natural scales (what a change of summation order or
    weight normalisation can cost)."""
    log_f = kde.score_samples(Q)
    assert_on_scale(other.score_samples(Q), log_f, np.maximum(1, np.abs(log_f)), rtol)
    g, H = kde.gradient(Q, log=True), kde.hessian(Q, log=True)
    grad_scale, hess_scale = _natural_scales(kde, g, H)
    # f = exp(log f) inherits log f's absolute error as a relative one:
    # eps |log f|, 1e-13 at log f = -470 (queries beyond the data).
    f = np.exp(log_f) * np.maximum(1, np.abs(log_f))
    for log, factor in [(True, 1.0), (False, f)]:
        grad, hess = other.gradient(Q, log=log), other.hessian(Q, log=log)
        assert_on_scale(grad, kde.gradient(Q, log=log), factor * grad_scale, rtol)
        assert_on_scale(hess, kde.hessian(Q, log=log), factor * hess_scale, rtol)


@pytest.fixture(scope="module")
def faithful_kde():
    X, _ = load_faithful()
    return GaussianKDE().fit(X), X


def test_derivative_identities(faithful_kde):
    kde, X = faithful_kde
    rng = np.random.default_rng(1)
    Q = _queries(X, 50, rng)
    f = np.exp(kde.score_samples(Q))
    g = kde.gradient(Q, log=True)
    H = kde.hessian(Q, log=True)
    grad_scale, hess_scale = _natural_scales(kde, g, H)
    assert_on_scale(kde.gradient(Q), f[:, None] * g, f * grad_scale, 1e-13)
    assert_allclose(H, H.transpose(0, 2, 1), rtol=0, atol=0)
    Hf = kde.hessian(Q)
    assert_allclose(Hf, Hf.transpose(0, 2, 1), rtol=0, atol=0)
    outer = g[:, :, None] * g[:, None, :]
    assert_on_scale(Hf, f[:, None, None] * (H + outer), f * hess_scale, 1e-12)


@pytest.mark.parametrize("bandwidth", [0.7, np.array([0.5, 1.5])])
def test_weight_two_equals_duplicated_row(bandwidth):
    X, rng = offset_correlated(40, 2)
    Q = _queries(X, 20, rng)
    w = np.ones(40)
    w[5] = 2.0
    weighted = GaussianKDE(bandwidth=bandwidth).fit(X, sample_weight=w)
    repeated = GaussianKDE(bandwidth=bandwidth).fit(np.vstack([X, X[5]]))
    _assert_same_density(weighted, repeated, Q, 1e-12)


def test_weight_invariances():
    X, rng = offset_correlated(50, 2)
    Q = _queries(X, 10, rng)
    w = rng.uniform(0.5, 2, size=50)
    base = GaussianKDE().fit(X, sample_weight=w)
    scaled = GaussianKDE().fit(X, sample_weight=7.5 * w)
    ones = GaussianKDE().fit(X, sample_weight=np.full(50, 3.0))
    plain = GaussianKDE().fit(X)
    _assert_same_density(base, scaled, Q, 1e-12)
    _assert_same_density(ones, plain, Q, 1e-12)


def test_permutation_invariance():
    X, rng = offset_correlated(60, 3)
    Q = _queries(X, 15, rng)
    perm = rng.permutation(60)
    a = GaussianKDE().fit(X)
    b = GaussianKDE().fit(X[perm])
    _assert_same_density(a, b, Q, 1e-11)
    # Query order does not matter either (up to how BLAS blocks the rows).
    H = a.hessian(Q, log=True)
    _, hess_scale = _natural_scales(a, a.gradient(Q, log=True), H)
    qperm = rng.permutation(15)
    assert_on_scale(a.hessian(Q[qperm], log=True), H[qperm], hess_scale[qperm], 1e-12)


def test_results_do_not_depend_on_chunking():
    # With working_memory=1 (MiB), 4000 kernels are split into component
    # blocks (online log-sum-exp) and the 500 queries into row chunks.
    X, rng = offset_correlated(4000, 3)
    Q = _queries(X, 500, rng)
    kde = GaussianKDE(bandwidth=0.4).fit(X)
    full = [kde.score_samples(Q), kde.gradient(Q, log=True), kde.hessian(Q)]
    with config_context(working_memory=1):
        small = [kde.score_samples(Q), kde.gradient(Q, log=True), kde.hessian(Q)]
    # Identical up to the round-off of a different summation order (blocks),
    # on the natural scale.
    grad_scale, hess_scale = _natural_scales(kde, full[1], kde.hessian(Q, log=True))
    f = np.exp(full[0])
    assert_allclose(full[0], small[0], rtol=1e-13)
    assert_on_scale(small[1], full[1], grad_scale, 1e-11)
    assert_on_scale(small[2], full[2], f * hess_scale, 1e-11)


def test_n_jobs_gives_identical_results(faithful_kde):
    kde, X = faithful_kde
    Q = _queries(X, 301, np.random.default_rng(3))
    par = clone(kde).set_params(n_jobs=2).fit(X)
    assert_array_equal(par.score_samples(Q), kde.score_samples(Q))
    assert_array_equal(par.gradient(Q, log=True), kde.gradient(Q, log=True))
    assert_array_equal(par.hessian(Q, log=True), kde.hessian(Q, log=True))


def test_float32_input_gives_float64(faithful_kde):
    kde, X = faithful_kde
    Q = X[:5].astype(np.float32)
    for out in (kde.score_samples(Q), kde.gradient(Q), kde.hessian(Q, log=True)):
        assert out.dtype == np.float64
    assert_allclose(kde.score_samples(Q), kde.score_samples(Q.astype(np.float64)))


def test_prediction_does_not_mutate(faithful_kde):
    kde, X = faithful_kde
    before = pickle.dumps(kde)
    kde.hessian(X[:7])
    kde.gradient(X[:7], log=True)
    kde.score_samples(X[:7])
    assert pickle.dumps(kde) == before


# ---------------------------------------------------------------------------
# Far from the data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("distance", [1e3, 1e6, 1e9])
def test_log_derivatives_finite_and_correct_far_away(distance):
    # Far away in direction u the component whose centre maximises u . x_i
    # (in whitened coordinates) carries all the responsibility, so
    # grad log f = P (x_i* - x) and Hess log f = -P exactly in double precision.
    X, rng = offset_correlated(100, 2)
    B = rng.normal(size=(2, 2))
    H = B @ B.T + 0.3 * np.eye(2)
    kde = GaussianKDE(bandwidth=H).fit(X)
    P = np.linalg.inv(H)
    u = np.array([[0.6, -0.8]])
    x = X.mean(axis=0) + distance * u
    # the winning centre maximises x_i^T P x - 0.5 x_i^T P x_i
    scores = X @ P @ x[0] - 0.5 * np.einsum("ij,jk,ik->i", X, P, X)
    best = X[np.argmax(scores)]
    g = kde.gradient(x, log=True)
    Hl = kde.hessian(x, log=True)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(Hl))
    assert_allclose(g[0], P @ (best - x[0]), rtol=1e-9)
    assert_allclose(Hl[0], -P, rtol=1e-9)
    lf = kde.score_samples(x)
    ref = stats.multivariate_normal(best, H).logpdf(x[0]) + np.log(1 / 100)
    assert np.isfinite(lf[0])
    assert_allclose(lf[0], ref, rtol=1e-9)
    # The density itself underflows to exactly zero, without NaN.
    assert np.all(np.isfinite(kde.gradient(x))) and np.all(np.isfinite(kde.hessian(x)))


# ---------------------------------------------------------------------------
# Sampling, pickling, cloning, pipelines
# ---------------------------------------------------------------------------


def test_sample_moments_and_reproducibility():
    X, rng = offset_correlated(50, 2)
    w = rng.uniform(0, 1, size=50)
    kde = GaussianKDE(bandwidth="silverman").fit(X, sample_weight=w)
    S = kde.sample(200_000, random_state=0)
    assert S.shape == (200_000, 2)
    wn = w / w.sum()
    mean = wn @ X
    cov = (X - mean).T @ ((X - mean) * wn[:, None]) + kde.covariance_
    assert_allclose(S.mean(axis=0), mean, atol=0.05 * np.sqrt(np.diag(cov)).max())
    assert_allclose(np.cov(S.T), cov, rtol=0.03, atol=0.03 * np.abs(cov).max())
    assert_array_equal(kde.sample(5, random_state=3), kde.sample(5, random_state=3))
    assert kde.sample().shape == (1, 2)


def test_pickle_round_trip_and_clone(faithful_kde):
    kde, X = faithful_kde
    restored = pickle.loads(pickle.dumps(kde))
    assert_array_equal(restored.hessian(X[:4]), kde.hessian(X[:4]))
    cloned = clone(kde)
    assert cloned.get_params() == kde.get_params()
    assert not hasattr(cloned, "covariance_")


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")  # in the test extra; optional for users
    X, names = load_faithful()
    frame = pd.DataFrame(X, columns=names)
    kde = GaussianKDE().fit(frame)
    assert list(kde.feature_names_in_) == names
    plain = GaussianKDE().fit(X)
    assert_allclose(kde.gradient(frame.iloc[:3]), plain.gradient(X[:3]), rtol=1e-12)
    with pytest.raises(ValueError, match="feature names"):
        kde.score_samples(frame.rename(columns={"waiting": "wait"}))


def test_grid_search_over_bandwidth_in_pipeline():
    X, _ = load_faithful()
    pipe = Pipeline([("scale", StandardScaler()), ("kde", GaussianKDE())])
    grid = {"kde__bandwidth": [0.05, 0.3, 3.0, "scott"]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X)
    assert search.best_params_["kde__bandwidth"] in (0.3, "scott")
    # GridSearchCV scored with KDE.score: the sum of held-out log-densities.
    Xs = StandardScaler().fit_transform(X)
    assert np.isfinite(search.best_score_)
    assert search.best_estimator_.score(X) == pytest.approx(
        GaussianKDE(search.best_params_["kde__bandwidth"]).fit(Xs).score(Xs)
    )
