"""Accuracy wherever the data sit and however far they spread (SPEC section 3).

Requirement (issue 10, item 2): log f within 1e-12 x max(1, |log f|), the
gradient and Hessian of log f within 1e-8 of their natural scale, whatever the
extent of the data in bandwidths (here up to 1e8) and wherever they sit
(offsets up to 1e12), for the KDE in every exact or tree evaluation and for
the mixtures. The references are closed forms and the exact 40-digit sums of
``tests/_exact.py``, accurate to 1e-20 or better: far below the tolerances.
"""

import mpmath
import numpy as np
import pytest
from _exact import (
    components_from_covariances,
    components_of_sklearn_mixture,
    log_weights_from_weights,
    mixture_derivatives,
)

from skdensity import GaussianKDE, GaussianMixtureGrad

LOG_2PI = np.log(2 * np.pi)


def _assert_log_scale(est, Q, exact, check_log_f=True):
    grad, hess = est.gradient_and_hessian(Q, log=True)
    if check_log_f:
        log_f = est.score_samples(Q)
        err_f = np.abs(log_f - exact.log_f) / np.maximum(1.0, np.abs(exact.log_f))
        assert err_f.max() <= 1e-12, err_f.max()
    err_g = np.abs(grad - exact.grad_log).max(axis=1) / exact.grad_scale
    assert err_g.max() <= 1e-8, err_g.max()
    err_h = np.abs(hess - exact.hess_log).max(axis=(1, 2)) / exact.hess_scale
    assert err_h.max() <= 1e-8, err_h.max()


def test_issue_examples_tiny_bandwidth_and_an_outlier():
    # Two kernels 1e8 bandwidths apart: the other one contributes exp(-5e15).
    kde = GaussianKDE(1e-8).fit([[0.0], [1.0]])
    expected = np.log(0.5) - 0.5 * LOG_2PI - np.log(1e-8)
    assert abs(kde.score_samples([[0.0]])[0] - expected) <= 1e-12 * expected
    # Midway between two kernels, a third 1e6 bandwidths away: by symmetry the
    # gradient is 0, and the Hessian is Var{0, 1} - 1 = -0.75.
    kde = GaussianKDE(1.0).fit([[0.0], [1.0], [1e6]])
    expected = np.log(2 / 3) - 0.5 * LOG_2PI - 0.125
    assert abs(kde.score_samples([[0.5]])[0] - expected) <= 1e-12
    assert abs(kde.gradient([[0.5]], log=True)[0, 0]) <= 1e-12
    assert abs(kde.hessian([[0.5]], log=True)[0, 0, 0] + 0.75) <= 1e-12


def _spread_data(extent, offset, d, n, seed):
    """``n`` points over ``extent`` bandwidths (h = 2), in pairs one bandwidth
    apart so that every query sees more than one kernel, shifted by
    ``offset``; queries near the points."""
    rng = np.random.default_rng(seed)
    h = 2.0
    centres = np.round(rng.uniform(0, extent * h, size=(n // 2, d)))
    X = np.concatenate([centres, centres + h * rng.normal(size=centres.shape)])
    X += offset
    Q = X[rng.integers(len(X), size=4)] + h * rng.normal(size=(4, d))
    return X, Q, h


@pytest.mark.parametrize("algorithm", ["exact", "tree"])
@pytest.mark.parametrize("offset", [0.0, 1e12])
@pytest.mark.parametrize("extent", [1e2, 1e4, 1e6, 1e8])
@pytest.mark.parametrize("d", [1, 2])
def test_kde_wide_data_anywhere(d, extent, offset, algorithm):
    # Positions along a genome, galaxies over a survey: many bandwidths wide.
    X, Q, h = _spread_data(extent, offset, d, n=24, seed=int(extent) % 97 + d)
    kde = GaussianKDE(h, algorithm=algorithm, rtol=1e-14).fit(X)
    exact = mixture_derivatives(
        Q,
        components_from_covariances(
            log_weights_from_weights(np.ones(len(X))), X, h**2 * np.eye(d)
        ),
    )
    _assert_log_scale(kde, Q, exact)


@pytest.mark.parametrize("offset", [0.0, 1e12])
@pytest.mark.parametrize("extent", [1e3, 1e8])
def test_kde_wide_data_with_a_full_bandwidth_matrix(extent, offset):
    X, Q, _ = _spread_data(extent, offset, 2, n=20, seed=3)
    H = np.array([[4.0, 1.2], [1.2, 1.0]])
    kde = GaussianKDE(H).fit(X)
    exact = mixture_derivatives(
        Q,
        components_from_covariances(log_weights_from_weights(np.ones(len(X))), X, H),
    )
    _assert_log_scale(kde, Q, exact)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("offset", [0.0, 1e8, 1e12])
def test_mixture_anywhere(covariance_type, offset):
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(100, 2)), rng.normal(3, 1, size=(100, 2))])
    gm = GaussianMixtureGrad(3, covariance_type=covariance_type, random_state=0)
    gm.fit(X)
    # The same model moved by ``offset``: only the means change.
    gm.means_ = gm.means_ + offset
    Q = X[:5] + offset
    exact = mixture_derivatives(Q, components_of_sklearn_mixture(gm))
    # score_samples is scikit-learn's own, kept bit for bit (drop-in): it
    # whitens x and mu separately and loses eps |x U|^2 at large offsets.
    # The derivatives are skdensity's.
    _assert_log_scale(gm, Q, exact, check_log_f=offset == 0)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_mixture_components_far_apart(covariance_type):
    # Components 1e8 standard deviations apart, queries between two of them.
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(size=(100, 2)), rng.normal(2, 1, size=(100, 2))])
    gm = GaussianMixtureGrad(3, covariance_type=covariance_type, random_state=0)
    gm.fit(X)
    gm.means_ = gm.means_ + np.array([[0.0, 0.0], [0.0, 0.0], [1e8, -1e8]])
    Q = X[:5]
    exact = mixture_derivatives(Q, components_of_sklearn_mixture(gm))
    _assert_log_scale(gm, Q, exact)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("distance", [1e155, 1e200])
def test_mixture_log_derivatives_finite_very_far(covariance_type, distance):
    # So far out that log f (about -distance^2) is beyond float64: one
    # component takes all the responsibility (the one whose quadratic form
    # (x - mu)^T P (x - mu) is smallest, found here in exact arithmetic), so
    # grad log f = P (mu - x) and Hess log f = -P of that component.
    rng = np.random.default_rng(6)
    X = np.concatenate([rng.normal(size=(100, 2)), rng.normal(4, 2, size=(100, 2))])
    gm = GaussianMixtureGrad(2, covariance_type=covariance_type, random_state=0)
    gm.fit(X)
    x = distance * np.array([0.8, -0.6])
    precisions = np.broadcast_to(
        np.linalg.inv(
            gm.covariances_
            if covariance_type in ("full", "tied")
            else np.stack(
                [np.diag(np.broadcast_to(c, 2)) for c in np.atleast_1d(gm.covariances_)]
            )
        ),
        (2, 2, 2),
    )
    with mpmath.workdps(450):  # the forms differ in their 150th digit or later
        forms = []
        for mu, P in zip(gm.means_, precisions, strict=True):
            r = [
                mpmath.mpf(float(a)) - mpmath.mpf(float(b))
                for a, b in zip(x, mu, strict=True)
            ]
            forms.append(sum(r[i] * P[i, j] * r[j] for i in range(2) for j in range(2)))
    k = int(np.argmin([float(f - min(forms)) for f in forms]))
    assert all(f - forms[k] > 1e100 for j, f in enumerate(forms) if j != k)
    grad, hess = gm.gradient_and_hessian(x[None], log=True)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
    expected_grad = precisions[k] @ (gm.means_[k] - x)
    np.testing.assert_allclose(grad[0], expected_grad, rtol=1e-12)
    np.testing.assert_allclose(hess[0], -precisions[k], rtol=1e-12, atol=1e-12)
    # On the density scale everything underflows to exactly zero.
    g, H = gm.gradient_and_hessian(x[None])
    assert np.all(g == 0) and np.all(H == 0)


def test_group_bounds_from_exact_offsets():
    # Data 1e10 bandwidths wide: the groups a query needs are chosen from
    # exact input-space offsets (global-frame distances round by ~1e4 here),
    # and a far group rescaled away leaves no trace in the mean.
    kde = GaussianKDE(1.0).fit([[0.0], [1.0], [1e10], [1e10 + 1]])
    q = [[1e10 + 0.5]]
    expected = np.log(0.5) - 0.5 * LOG_2PI - 0.125
    assert abs(kde.score_samples(q)[0] - expected) <= 1e-12
    assert abs(kde.gradient(q, log=True)[0, 0]) <= 1e-12
    assert abs(kde.hessian(q, log=True)[0, 0, 0] + 0.75) <= 1e-12
    # Two kernels one bandwidth apart, far from a third: closed form.
    weights = np.exp(-(np.array([2.5, 0.5]) ** 2) / 8)
    expected_grad = (weights / weights.sum()) @ np.array([-2.5, -0.5]) / 4
    for extent in (1e9, 1e12, 1e15):
        kde = GaussianKDE(2.0).fit([[0.0], [extent], [extent + 2]])
        grad = kde.gradient([[extent + 2.5]], log=True)[0, 0]
        assert abs(grad - expected_grad) <= 1e-12 * abs(expected_grad)


@pytest.mark.parametrize("algorithm", ["exact", "tree", "binned"])
def test_data_beyond_the_float_range_of_squared_distances(algorithm):
    # Centres 1e155 bandwidths apart: squared distances overflow float64.
    with pytest.raises(ValueError, match="bandwidths from their centre"):
        GaussianKDE(1.0, algorithm=algorithm).fit([[0.0], [1.0], [1e155]])
