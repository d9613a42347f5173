"""The numerical core on both paths, against scipy and extrapolated differences."""

import numpy as np
import pytest
from _exact import components_from_covariances, mixture_derivatives
from _oracles import (
    assert_close_scaled,
    assert_on_scale,
    richardson_gradient,
    richardson_hessian,
)
from numpy.testing import assert_allclose
from scipy import stats
from sklearn import config_context

from skdensity._core import (
    ComponentPrecisionMixture,
    SharedPrecisionMixture,
    log_density_derivatives,
    make_mixture,
    responsibilities,
    to_density_scale,
)


def _random_mixture(K, d, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3, size=(K, d))
    covs = []
    for _ in range(K):
        B = rng.normal(size=(d, d))
        covs.append(B @ B.T + 0.5 * np.eye(d))
    covs = np.array(covs)
    log_w = np.log(rng.dirichlet(np.ones(K)))
    # precision Cholesky U with U U^T = inv(cov), upper triangular
    prec_chol = np.array(
        [np.linalg.cholesky(np.linalg.inv(c)[::-1, ::-1])[::-1, ::-1] for c in covs]
    )
    return log_w, means, covs, prec_chol, rng


def _mixture_pdf(X, log_w, means, covs):
    return sum(
        np.exp(a) * stats.multivariate_normal(mu, c).pdf(X)
        for a, mu, c in zip(log_w, means, covs, strict=True)
    ).reshape(len(X))


def test_precision_cholesky_helper_is_upper_and_inverts():
    _, _, covs, prec_chol, _ = _random_mixture(3, 4)
    for c, U in zip(covs, prec_chol, strict=True):
        assert_allclose(np.tril(U, -1), 0)
        assert_allclose(U @ U.T @ c, np.eye(4), atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_component_path_matches_scipy(d):
    log_w, means, covs, prec_chol, rng = _random_mixture(4, d)
    mix = make_mixture(log_w, means, prec_chol)
    assert isinstance(mix, ComponentPrecisionMixture)
    X = rng.normal(scale=3, size=(50, d))
    log_f, _, _ = log_density_derivatives(X, mix, order=0)
    assert_allclose(log_f, np.log(_mixture_pdf(X, log_w, means, covs)), rtol=1e-12)
    r = responsibilities(X, mix)
    expected = (
        np.column_stack(
            [
                np.exp(a) * stats.multivariate_normal(mu, c).pdf(X)
                for a, mu, c in zip(log_w, means, covs, strict=True)
            ]
        )
        / np.exp(log_f)[:, None]
    )
    assert_allclose(r, expected, rtol=1e-10)


def _exact(X, log_w, means, covs):
    return mixture_derivatives(X, components_from_covariances(log_w, means, covs))


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("shared", [False, True])
def test_derivatives_match_exact_reference(d, shared):
    log_w, means, covs, prec_chol, rng = _random_mixture(4, d, seed=d)
    if shared:
        prec_chol, covs = prec_chol[0], covs[0]
    mix = make_mixture(log_w, means, prec_chol)
    # Near the components, and far out (f underflows; log f does not).
    X = means[rng.integers(4, size=8)] + rng.normal(size=(8, d))
    X = np.vstack([X, 30 * rng.normal(size=(2, d))])
    exact = _exact(X, log_w, means, covs)
    log_f, g, H = log_density_derivatives(X, mix, order=2)
    scale = np.maximum(1, np.abs(exact.log_f))
    assert_on_scale(log_f, exact.log_f, scale, 1e-12, "log_f")
    # The core rounds to ~1e-15 of the natural scale; 1e-10 leaves room for
    # any BLAS while catching every error in a formula.
    for log, values in [(True, (g, H)), (False, to_density_scale(log_f, g, H)[1:])]:
        grad, hess, grad_scale, hess_scale = exact.derivatives(log)
        assert_on_scale(values[0], grad, grad_scale, 1e-10, "grad")
        assert_on_scale(values[1], hess, hess_scale, 1e-10, "hess")


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("log", [True, False])
def test_extrapolated_differences_within_their_own_error(d, log):
    # Differences of scipy's density, an oracle independent of the closed
    # forms. Their error (truncation and the rounding of the density) is
    # estimated by the oracle itself, checked here against the exact
    # reference, and carried into the tolerance of the comparison.
    log_w, means, covs, prec_chol, rng = _random_mixture(4, d, seed=10 + d)
    X = means[rng.integers(4, size=5)] + rng.normal(size=(5, d))

    def func(Z):
        pdf = _mixture_pdf(Z, log_w, means, covs)
        return np.log(pdf) if log else pdf

    steps = np.full(d, 0.05)
    # scipy's log-pdf rounds on the scale of its largest terms (|log f| and
    # more): 1e-13 of max(1, |log f|) covers it; the pdf rounds relatively.
    noise = 1e-13 * np.maximum(1, np.abs(func(X))) if log else None
    grad, grad_err = richardson_gradient(func, X, steps, return_error=True, noise=noise)
    hess, hess_err = richardson_hessian(func, X, steps, return_error=True, noise=noise)
    exact_grad, exact_hess, grad_scale, hess_scale = _exact(
        X, log_w, means, covs
    ).derivatives(log)
    # The error bound holds (so the tolerances below are honest) ...
    assert_on_scale(grad, exact_grad, grad_scale, 0, "grad oracle", atol=grad_err)
    assert_on_scale(hess, exact_hess, hess_scale, 0, "hess oracle", atol=hess_err)
    # ... and is small enough for the comparison to mean something.
    assert np.all(grad_err.max(axis=1) <= 1e-6 * grad_scale)
    assert np.all(hess_err.max(axis=(1, 2)) <= 1e-6 * hess_scale)
    mix = make_mixture(log_w, means, prec_chol)
    log_f, g, H = log_density_derivatives(X, mix, order=2)
    if not log:
        _, g, H = to_density_scale(log_f, g, H)
    assert_on_scale(g, grad, grad_scale, 1e-10, "grad", atol=10 * grad_err)
    assert_on_scale(H, hess, hess_scale, 1e-10, "hess", atol=10 * hess_err)


def test_shared_and_component_paths_agree():
    log_w, means, _, prec_chol, rng = _random_mixture(30, 3)
    shared = make_mixture(log_w, means, prec_chol[0])
    per_comp = make_mixture(log_w, means, np.broadcast_to(prec_chol[0], (30, 3, 3)))
    assert isinstance(shared, SharedPrecisionMixture)
    X = rng.normal(scale=4, size=(40, 3))
    a = log_density_derivatives(X, shared, order=2)
    b = log_density_derivatives(X, per_comp, order=2)
    assert_allclose(a[0], b[0], rtol=1e-12)
    assert_close_scaled(a[1], b[1], 1e-11)
    assert_close_scaled(a[2], b[2], 1e-11)
    assert_allclose(
        responsibilities(X, shared), responsibilities(X, per_comp), atol=1e-13
    )


def test_unnormalised_weights_and_dropped_components():
    log_w, means, covs, prec_chol, rng = _random_mixture(3, 2)
    X = rng.normal(size=(5, 2))
    shifted = log_density_derivatives(X, make_mixture(log_w + 2.5, means, prec_chol), 2)
    base = log_density_derivatives(X, make_mixture(log_w, means, prec_chol), 2)
    exact = _exact(X, log_w, means, covs)
    scale = np.maximum(1, np.abs(exact.log_f))
    assert_on_scale(shifted[0], base[0] + 2.5, scale, 1e-12)
    assert_on_scale(shifted[2], base[2], exact.hess_scale, 1e-12)
    # A component of weight zero (log-weight -inf) is dropped.
    with_zero = make_mixture(
        np.r_[log_w, -np.inf],
        np.vstack([means, [0, 0]]),
        np.concatenate([prec_chol, prec_chol[:1]]),
    )
    assert with_zero.n_components == 3
    assert_allclose(log_density_derivatives(X, with_zero, 0)[0], base[0], rtol=1e-14)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("distance", [1e4, 1e8])
def test_far_queries_stay_finite_and_exact(shared, distance):
    log_w, means, covs, prec_chol, rng = _random_mixture(5, 3)
    if shared:
        prec_chol = prec_chol[0]
    mix = make_mixture(log_w, means, prec_chol)
    x = distance * np.array([[0.48, -0.6, 0.64]])
    log_f, g, H = log_density_derivatives(x, mix, order=2)
    assert np.isfinite(log_f).all() and np.isfinite(g).all() and np.isfinite(H).all()
    # All responsibility on the component with the largest log-density.
    Us = np.broadcast_to(prec_chol, (5, 3, 3))
    comp = [
        a
        + np.log(np.diag(U)).sum()
        - 1.5 * np.log(2 * np.pi)
        - 0.5 * np.sum(((x[0] - mu) @ U) ** 2)
        for a, mu, U in zip(log_w, means, Us, strict=True)
    ]
    k = int(np.argmax(comp))
    P = Us[k] @ Us[k].T
    assert_allclose(log_f[0], comp[k], rtol=1e-12)
    assert_allclose(g[0], P @ (means[k] - x[0]), rtol=1e-9)
    assert_allclose(H[0], -P, rtol=1e-7, atol=1e-9 * np.abs(P).max())


def test_component_path_chunking():
    log_w, means, _, prec_chol, rng = _random_mixture(6, 2)
    mix = make_mixture(log_w, means, prec_chol)
    X = rng.normal(scale=3, size=(3000, 2))
    full = log_density_derivatives(X, mix, order=2)
    with config_context(working_memory=0.05):
        small = log_density_derivatives(X, mix, order=2)
    assert_allclose(full[0], small[0], rtol=1e-14)
    assert_close_scaled(full[2], small[2], 1e-13)
