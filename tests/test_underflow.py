"""Kernel terms that underflow (issue 17, item 3).

Over wide data many terms of a query lie below exp(-708), where NumPy's exp
is 20-90x slower; the core raises such exponents to -600 before ``exp``
(their terms stay below 1e-260 of the sum). These tests check on data where
many terms underflow that the results still match the direct log-sum-exp
oracle of ``tests/_direct_oracle.py`` (explicit residuals, with its own
error bound), and that raising changes no bit of any result.
"""

import numpy as np
import pytest
from _direct_oracle import direct_log_derivatives

import skdensity._core._shared as shared
from skdensity import GaussianKDE


def _uniform_case(h, n=1500, m=60, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    Q = np.concatenate([rng.uniform(-1.1, 1.1, size=(m - 2, d)), [[3.0, -2.0], X[0]]])
    kde = GaussianKDE(h).fit(X)
    U = np.broadcast_to(kde.precision_cholesky_, (n, d, d))
    oracle = direct_log_derivatives(Q, np.log(kde.weights_), kde.X_fit_, U)
    return kde, Q, oracle


@pytest.mark.parametrize("h", [0.05, 0.012])  # one frame; spatial groups
def test_matches_direct_sums_where_terms_underflow(h):
    kde, Q, (log_f, grad, hess, bounds) = _uniform_case(h)
    # The case is the one meant: many terms underflow (7% and 80%).
    d2 = np.sum(((Q[:, None, :] - kde.X_fit_[None]) / h) ** 2, axis=2)
    assert np.mean(-0.5 * d2 < -708) > 0.05
    # The oracle is at least 10x more accurate than each tolerance.
    tol_f = 1e-12 * np.maximum(1.0, np.abs(log_f))
    g_scale = 1.0 / h + np.linalg.norm(grad, axis=1)
    h_scale = 1.0 / h**2 + np.linalg.norm(hess, axis=(1, 2))
    assert np.all(bounds[0] <= 0.1 * tol_f)
    assert np.all(bounds[1] <= 0.1 * 1e-9 * g_scale)
    assert np.all(bounds[2] <= 0.1 * 1e-9 * h_scale)
    ours_g, ours_h = kde.gradient_and_hessian(Q, log=True)
    assert np.all(np.abs(kde.score_samples(Q) - log_f) <= tol_f)
    assert np.all(np.linalg.norm(ours_g - grad, axis=1) <= 1e-9 * g_scale)
    assert np.all(np.linalg.norm(ours_h - hess, axis=(1, 2)) <= 1e-9 * h_scale)


@pytest.mark.parametrize("h", [0.05, 0.012])
def test_raising_exponents_changes_no_bit(monkeypatch, h):
    kde, Q, _ = _uniform_case(h, m=200)
    raised = kde.score_samples(Q), *kde.gradient_and_hessian(Q, log=True)
    # Never raised: every exponent goes to exp as it is.
    monkeypatch.setattr(shared, "_SLOW_EXPONENT", -np.inf)
    monkeypatch.setattr(shared, "_MIN_EXPONENT", -np.inf)
    plain = kde.score_samples(Q), *kde.gradient_and_hessian(Q, log=True)
    for a, b in zip(raised, plain, strict=True):
        np.testing.assert_array_equal(a, b)
