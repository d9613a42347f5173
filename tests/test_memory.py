"""Bounded memory and exact blocking of the numerical core.

The core never forms an m x n x d array: kernel terms are computed in
cache-sized blocks, and per-query accumulators in row chunks sized by
scikit-learn's ``working_memory``. These tests measure the peak with
tracemalloc (NumPy reports its buffers to it) on a case where the naive
array would need tens of GiB, and check that the blocking changes nothing:
tiny budgets, and blocks whose shift had to be redone, give the same
numbers as direct formulas.
"""

import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from scipy.special import logsumexp
from sklearn import config_context

import skdensity._core._representation as representation
import skdensity._core._shared as core
from skdensity import GaussianKDE, GaussianMixtureGrad


def _peak_extra_bytes(func):
    """Peak traced memory while ``func()`` runs, minus its result's size."""
    tracemalloc.start()
    try:
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - result.nbytes, result


@pytest.mark.slow
@pytest.mark.parametrize("working_memory", [16, 1024])
def test_peak_memory_within_working_memory(working_memory):
    # An m x n x d float64 array would take 21.5 GiB, the m x n block of
    # kernel terms 2.2 GiB; the budget is 16 MiB (or the default 1 GiB).
    n = m = 17_000
    d = 10
    assert m * n * d * 8 > 20 * 2**30
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    Q = rng.normal(size=(m, d))
    kde = GaussianKDE(bandwidth=0.8).fit(X)
    budget = working_memory * 2**20
    with config_context(working_memory=working_memory):
        for method in (kde.gradient, kde.hessian):
            extra, result = _peak_extra_bytes(lambda f=method: f(Q, log=True))
            assert extra <= budget, (method.__name__, extra / 2**20)
            assert result.shape[0] == m
            # On the density scale the derivatives of log f are an
            # intermediate of the output's size.
            extra, result = _peak_extra_bytes(lambda f=method: f(Q))
            assert extra <= budget + result.nbytes, (method.__name__, extra / 2**20)
        extra, result = _peak_extra_bytes(lambda: kde.score_samples(Q))
        assert extra <= budget
    # The numbers are right, too: kernels N(x_i, 0.8^2 I) summed directly.
    kernel = stats.multivariate_normal(np.zeros(d), 0.64 * np.eye(d))
    head = Q[:3]
    expected = logsumexp(kernel.logpdf(head[:, None, :] - X[None, :, :]), axis=1)
    with config_context(working_memory=working_memory):
        assert_allclose(kde.score_samples(head), expected - np.log(n), rtol=1e-12)


@pytest.mark.parametrize("wide", [False, True])
def test_hessian_memory_counts_d_squared_terms(wide):
    # d = 100: a Hessian is 80 kB a query and its moments 41 kB, so a block
    # of rows sized for the kernel terms alone (thousands of rows) would
    # hold hundreds of MiB. Wide data (several groups) keep their own
    # per-query accumulators too.
    rng = np.random.default_rng(2)
    d, n, m = 100, 50, 4000
    X = rng.normal(size=(n, d)) * (100.0 if wide else 1.0)
    Q = X[rng.integers(n, size=m)] + rng.normal(size=(m, d))
    kde = GaussianKDE(bandwidth=1.0).fit(X)
    assert (kde._mixture.n_groups > 1) == wide
    budget = 64 * 2**20
    with config_context(working_memory=64):
        extra, result = _peak_extra_bytes(lambda: kde.hessian(Q, log=True))
    # The core hands back log f and the gradient with the Hessian.
    assert extra <= budget + 8 * m * (1 + d), extra / 2**20
    assert result.shape == (m, d, d)


@pytest.mark.parametrize("method", ["gradient", "hessian"])
def test_peak_memory_of_a_mixture_stays_within_budget(method):
    # The per-component path: a row of a block holds K x d residuals. (The
    # inherited score_samples is sklearn's own, not chunked.)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    gm = GaussianMixtureGrad(5, random_state=0).fit(X)
    Q = rng.normal(size=(200_000, 4))
    # The core hands back log f (and the gradient, with the Hessian) along
    # with the output: memory proportional to m, below the output's size.
    m, d = Q.shape
    budget = 4 * 2**20 + 8 * m * (1 if method == "gradient" else 1 + d)
    with config_context(working_memory=4):
        extra, result = _peak_extra_bytes(lambda: getattr(gm, method)(Q, log=True))
        assert extra <= budget
        assert result.shape[0] == Q.shape[0]
        # Density scale: the conversion also holds the log-scale results,
        # as large again as the core's outputs.
        extra, result = _peak_extra_bytes(lambda: getattr(gm, method)(Q))
        assert extra <= 2 * budget + result.nbytes


def _line_data():
    # Points spread over 60 bandwidths in random order (one frame: within the
    # core's COMPACT_RADIUS of their centre), and a probe of one component
    # (set by the test): queries far from it overflow their blocks, which are
    # redone with their own maximum.
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 60, size=(3000, 1))
    Q = np.concatenate([rng.uniform(-5, 65, size=(40, 1)), [[1500.0], [-300]]])
    return X, Q


def _direct_line_kde(X, Q):
    """log f, d/dx log f and d2/dx2 log f by direct sums over the points."""
    logk = -0.5 * (Q - X.T) ** 2
    log_f = logsumexp(logk, axis=1) - np.log(len(X)) - 0.5 * np.log(2 * np.pi)
    r = np.exp(logk - logsumexp(logk, axis=1, keepdims=True))
    mean = r @ X[:, 0]
    var = np.sum(r * (X.T - mean[:, None]) ** 2, axis=1)
    return log_f, mean - Q[:, 0], var - 1.0


@pytest.mark.parametrize("working_memory", [0.05, 1024])
def test_redone_blocks_are_exact(monkeypatch, working_memory):
    X, Q = _line_data()
    redone = []
    original = core._redo_with_own_max

    def spy(*args):
        redone.append(len(args[2]))
        return original(*args)

    monkeypatch.setattr(core, "_redo_with_own_max", spy)
    monkeypatch.setattr(representation, "N_PROBE", 1)
    kde = GaussianKDE(bandwidth=1.0).fit(X)
    assert kde._mixture.n_groups == 1
    # No overflow warning reaches the user: redone blocks are expected.
    raise_ = {"over": "raise", "invalid": "raise", "divide": "raise"}
    with config_context(working_memory=working_memory), np.errstate(**raise_):
        log_f = kde.score_samples(Q)
        grad = kde.gradient(Q, log=True)[:, 0]
        hess = kde.hessian(Q, log=True)[:, 0, 0]
    assert redone, "the data were meant to make the probe miss"
    ref_log_f, ref_grad, ref_hess = _direct_line_kde(X, Q)
    assert_allclose(log_f, ref_log_f, rtol=1e-11)
    # Gradients up to ~500 bandwidths^-1, Hessians near -1: absolute scale.
    assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-8)
    assert_allclose(hess, ref_hess, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shared", [True, False])
def test_blocking_does_not_change_results(shared):
    # From one block for everything down to blocks of a few rows and
    # components; results agree to rounding (relative to each array's scale:
    # Hessian entries of f are differences of near-equal terms).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2500, 3))
    Q = rng.normal(scale=2, size=(700, 3))
    if shared:
        est = GaussianKDE().fit(X)
    else:
        est = GaussianMixtureGrad(6, random_state=0).fit(X)
    results = []
    for working_memory in (1024, 1, 0.02):
        with config_context(working_memory=working_memory):
            results.append(
                (est.score_samples(Q), est.gradient(Q, log=True), est.hessian(Q))
            )
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert_allclose(b, a, rtol=1e-12, atol=1e-12 * np.abs(a).max())


def test_query_order_and_batching_do_not_change_results():
    # In calls of at least ROW_ALIGN queries, each query's result depends on
    # that query alone (full BLAS tiles): bit for bit the same in any batch
    # or order. (A call of fewer is not padded; see test_parallel.py.)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 2))
    Q = rng.normal(size=(37, 2))
    kde = GaussianKDE().fit(X)
    perm = rng.permutation(37)
    for method in (kde.score_samples, kde.gradient, kde.hessian):
        full = method(Q)
        np.testing.assert_array_equal(method(Q[perm]), full[perm])
        np.testing.assert_array_equal(method(Q[5:21]), full[5:21])
