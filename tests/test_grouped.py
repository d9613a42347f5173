"""The grouped shared-precision path (data spanning many bandwidths).

Checked against direct float64 sums from exact input-space offsets (accurate
to a few ulps at these extents): near and between the groups, at the edges,
and far enough away that a block sum overflows and is redone; each query's
bits depend on that query alone; skipping groups changes nothing but
rounding.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn import config_context

import skdensity._core._grouped as grouped
from skdensity import GaussianKDE


def _direct(X, Q, h, log_w=None):
    """log f, gradient and Hessian of log f of an isotropic KDE, summed
    directly from the offsets ``(mu_k - x) / h``."""
    n, d = X.shape
    log_w = np.full(n, -np.log(n)) if log_w is None else log_w
    r = (X[None, :, :] - Q[:, None, :]) / h
    logk = log_w - 0.5 * np.einsum("mkd,mkd->mk", r, r)
    log_f = logsumexp(logk, axis=1) - 0.5 * d * np.log(2 * np.pi) - d * np.log(h)
    p = np.exp(logk - logsumexp(logk, axis=1, keepdims=True))
    mean = np.einsum("mk,mkd->md", p, r)
    c = r - mean[:, None, :]
    cov = np.einsum("mk,mki,mkj->mij", p, c, c)
    return log_f, mean / h, (cov - np.eye(d)) / h**2


def _assert_near_direct(kde, X, Q, h, rtol=1e-13, gtol=1e-12, htol=1e-12):
    """The KDE's log f, gradient and Hessian at Q against direct sums (f to
    ``rtol``; the derivatives in units of ``s = 1/h + |grad log f|``),
    with overflow and invalid operations raising."""
    with np.errstate(over="raise", invalid="raise"):
        log_f = kde.score_samples(Q)
        g, H = kde.gradient_and_hessian(Q, log=True)
    ref_f, ref_g, ref_h = _direct(X, Q, h)
    assert_allclose(log_f, ref_f, rtol=rtol)
    s = 1 / h + np.linalg.norm(ref_g, axis=1)
    assert np.all(np.abs(g - ref_g).max(axis=1) <= gtol * s)
    assert np.all(np.abs(H - ref_h).max(axis=(1, 2)) <= htol * s**2)


def _clusters(d, seed, offset=0.0):
    """Clusters of kernels over ~300 bandwidths (h = 0.5), some touching."""
    rng = np.random.default_rng(seed)
    h = 0.5
    centres = rng.uniform(0, 150, size=(7, d))
    centres[1] = centres[0] + 6.0  # neighbouring groups that both matter
    X = np.concatenate([c + rng.normal(scale=3.0, size=(60, d)) for c in centres])
    return X + offset, h, rng


def _queries(X, h, rng, d):
    near = X[rng.integers(len(X), size=40)] + 2 * h * rng.normal(size=(40, d))
    # 30 and 200 bandwidths beyond the data: block sums overflow and are redone.
    edge = X.max(axis=0) + h * np.array([[30.0], [200.0]]) * np.ones(d)
    return np.concatenate([near, edge])


@pytest.mark.parametrize("offset", [0.0, 1e9])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_matches_direct_sums(d, offset):
    X, h, rng = _clusters(d, seed=d, offset=offset)
    Q = _queries(X, h, rng, d)
    kde = GaussianKDE(h).fit(X)
    assert kde._get_mixture().n_groups > 1
    log_f, grad, hess = _direct(X - offset, Q - offset, h)
    assert_allclose(kde.score_samples(Q), log_f, rtol=1e-13)
    g, H = kde.gradient_and_hessian(Q, log=True)
    # Natural scales: 1/h + |grad| for the gradient, its square for the
    # Hessian (the moments cancel like that far from the data).
    s = 1 / h + np.linalg.norm(grad, axis=1)
    assert np.all(np.abs(g - grad).max(axis=1) <= 1e-12 * s)
    assert np.all(np.abs(H - hess).max(axis=(1, 2)) <= 1e-12 * s**2)


def test_overflowing_blocks_are_redone_exactly(monkeypatch):
    X, h, rng = _clusters(2, seed=5)
    Q = X.max(axis=0) + h * rng.uniform(20, 300, size=(50, 2))
    redone = []
    original = grouped._redo_rows

    def spy(lhs, local, *args):
        redone.append(local.size)
        return original(lhs, local, *args)

    monkeypatch.setattr(grouped, "_redo_rows", spy)
    _assert_near_direct(GaussianKDE(h).fit(X), X, Q, h)
    assert redone, "the queries were meant to overflow some block sums"


def test_a_query_does_not_depend_on_the_others():
    # Per query: its groups, frames and shift, and full BLAS tiles, in any
    # call of at least ROW_ALIGN (16) queries. (Fewer are evaluated from
    # exact offsets: test_few_queries_from_exact_offsets.)
    X, h, rng = _clusters(2, seed=7)
    Q = _queries(X, h, rng, 2)
    kde = GaussianKDE(h).fit(X)
    perm = rng.permutation(len(Q))
    for method in (
        kde.score_samples,
        lambda q: kde.gradient(q, log=True),
        lambda q: kde.hessian(q, log=True),
    ):
        full = method(Q)
        assert_array_equal(method(Q[perm]), full[perm])
        # The last 16 hold query 40: 30 bandwidths out, where the Hessian's
        # off-diagonal entries are made of terms near exp(-600).
        for i in (0, 17, len(Q) - 16):
            assert_array_equal(method(Q[i : i + 16]), full[i : i + 16])


def test_skipped_groups_change_nothing_but_rounding(monkeypatch):
    X, h, rng = _clusters(2, seed=9)
    Q = _queries(X, h, rng, 2)
    kde = GaussianKDE(h).fit(X)
    skipping = kde.score_samples(Q), *kde.gradient_and_hessian(Q, log=True)
    monkeypatch.setattr(grouped, "_NEGLIGIBLE", -np.inf)
    every = kde.score_samples(Q), *kde.gradient_and_hessian(Q, log=True)
    for a, b in zip(skipping, every, strict=True):
        assert_allclose(a, b, rtol=1e-15, atol=1e-15 * np.abs(b).max())


def test_unnormalised_and_uneven_weights():
    # The shift is the best origin's own term: with weights far from equal
    # it may lie far below the largest term; sums stay exact.
    X, h, rng = _clusters(2, seed=11)
    w = np.exp(rng.uniform(-300, 0, size=len(X)))
    Q = _queries(X, h, rng, 2)
    kde = GaussianKDE(h).fit(X, sample_weight=w)
    log_w = np.log(w) - np.log(w.sum())
    log_f, grad, hess = _direct(X, Q, h, log_w)
    assert_allclose(kde.score_samples(Q), log_f, rtol=1e-13)
    g, H = kde.gradient_and_hessian(Q, log=True)
    s = 1 / h + np.linalg.norm(grad, axis=1)
    assert np.all(np.abs(g - grad).max(axis=1) <= 1e-12 * s)
    assert np.all(np.abs(H - hess).max(axis=(1, 2)) <= 1e-12 * s**2)


def test_workers_and_chunks_give_identical_results():
    # Many row chunks (a small working_memory), run on one or two workers.
    X, h, rng = _clusters(2, seed=13)
    Q = np.tile(_queries(X, h, rng, 2), (60, 1))
    serial = GaussianKDE(h).fit(X)
    parallel = GaussianKDE(h, n_jobs=2).fit(X)
    expected = serial.score_samples(Q), *serial.gradient_and_hessian(Q, log=True)
    with config_context(working_memory=0.05):
        for est in (serial, parallel):
            got = est.score_samples(Q), *est.gradient_and_hessian(Q, log=True)
            for a, b in zip(got, expected, strict=True):
                assert_array_equal(a, b)


def test_far_queries_where_group_sums_are_huge():
    # Queries 25-100 bandwidths below a curved band: the shift (the nearest
    # origin's own term) lies far below the largest terms, so group sums
    # reach 1e154 and more; their Chan-Golub-LeVeque join once overflowed
    # to a NaN Hessian (W_old * S0).
    rng = np.random.default_rng(11)
    X = rng.normal(size=(50_000, 2))
    X[:, 1] += 0.5 * X[:, 0] ** 2
    h = 0.2
    Q = np.c_[rng.uniform(-3, 3, 60), rng.uniform(-20, -5, 60)]
    _assert_near_direct(GaussianKDE(h).fit(X), X, Q, h)


def test_few_queries_from_exact_offsets():
    # Fewer than 16 queries against grouped data are evaluated from their
    # offsets to every kernel (no frames): near the data, far away (where
    # the block sums of the grouped path overflow) and at the centre.
    X, h, rng = _clusters(2, seed=5)
    kde = GaussianKDE(h).fit(X)
    assert kde._mixture.n_groups > 1
    Q = np.vstack(
        [X[:5] + 0.1, X.max(axis=0) + h * rng.uniform(20, 300, (5, 2)), X.mean(0)]
    )
    for rows in (slice(0, 1), slice(5, 6), slice(10, 11), slice(0, 11)):
        _assert_near_direct(kde, X, Q[rows], h, 1e-14, 1e-14, 1e-13)


def test_one_far_query_matches_the_batch():
    # One query takes the offsets path only among the data: far beyond it,
    # x - mu_k would round like x (ulp(1e17) = 16 bandwidths) and the
    # covariance of the offsets would be that noise (a Hessian of +255 for
    # -1), or overflow (NaN at 1e160). The batch of 16 (grouped frames) is
    # the reference; both stay finite where the math is.
    X = np.random.default_rng(2).uniform(0, 1000, (500, 2))
    kde = GaussianKDE(bandwidth=1.0).fit(X)
    assert kde._mixture.n_groups > 1
    for far in (5e2, 1e5, 1e16, 1e17, 1e19, 1e160):
        q = np.array([[1000.0 + far, 500.0]])
        with np.errstate(over="raise", invalid="raise"):
            one = kde.score_samples(q), *kde.gradient_and_hessian(q, log=True)
            batch = [
                r[:1]
                for r in (
                    kde.score_samples(np.repeat(q, 16, axis=0)),
                    *kde.gradient_and_hessian(np.repeat(q, 16, axis=0), log=True),
                )
            ]
        for a, b in zip(one[1:], batch[1:], strict=True):
            assert np.isfinite(a).all()
            assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        assert_allclose(one[0], batch[0], rtol=1e-14)
