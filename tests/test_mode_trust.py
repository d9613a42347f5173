"""Mode finding you can trust: basins, critical points, resolution, user densities.

Every reference here is computed without the library: kernel sums written out
in NumPy (or mpmath), minima located on fine grids and refined with Brent's
method, and the gradient flow dx/dt = H grad log f integrated by
scipy.integrate.solve_ivp at tight tolerances.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import integrate, optimize

from skdensity import GaussianKDE, GaussianMixtureGrad, find_modes

METHODS = ["auto", "newton", "mean-shift"]

ISSUE_DATA = np.array(
    [1.76265688, 2.08797949, 2.94128615, 3.37916345, 3.94437537, 4.50231985,
     4.87792987, 5.0751039, 5.23466587, 5.59788309, 6.35771846, 6.65713376,
     6.79448755, 6.85433501, 7.79709748, 8.09187458, 8.84835303, 9.63926094,
     10.25194912, 11.43103166, 11.64833061, 12.37313092, 13.3069336,
     14.13304822, 18.63690847]
)  # fmt: skip


# ---------------------------------------------------------------------------
# Direct oracles
# ---------------------------------------------------------------------------


def _kde_1d_log_gradient(x, data, h):
    """d log f / dx of an equal-weight 1-D Gaussian KDE, summed directly
    (shifted by the largest exponent, so nothing underflows)."""
    z = (data[None, :] - np.asarray(x, dtype=float)[:, None]) / h
    e = np.exp(-0.5 * (z**2 - np.min(z**2, axis=1, keepdims=True)))
    return (e * z).sum(axis=1) / e.sum(axis=1) / h


def _basins_1d(data, h, lo, hi, n_grid=200_001):
    """Modes and the minima between them, on [lo, hi]: sign changes of the
    directly summed derivative on a fine grid, refined by Brent's method."""
    grid = np.linspace(lo, hi, n_grid)
    g = np.concatenate(
        [_kde_1d_log_gradient(c, data, h) for c in np.array_split(grid, 50)]
    )
    change = np.flatnonzero(np.sign(g[:-1]) != np.sign(g[1:]))
    roots = np.array(
        [
            optimize.brentq(
                lambda x: _kde_1d_log_gradient([x], data, h)[0],
                grid[i],
                grid[i + 1],
                xtol=1e-14,
            )
            for i in change
        ]
    )
    is_mode = g[change] > 0  # the derivative falls through zero at a maximum
    return roots[is_mode], roots[~is_mode]


def _flow_ends(X0, data, H, t_end=4000.0):
    """Ends of the gradient flow dx/dt = H grad log f from each row of X0
    (direct sums; all starts integrated together, each to rtol 1e-10)."""
    X0 = np.atleast_2d(X0)
    m, d = X0.shape
    P = np.linalg.inv(H)

    def field(t, flat):
        x = flat.reshape(m, d)
        r = data[None, :, :] - x[:, None, :]
        q = np.einsum("mnj,jk,mnk->mn", r, P, r)
        w = np.exp(-0.5 * (q - q.min(axis=1, keepdims=True)))
        mean_shift = np.einsum("mn,mnj->mj", w, r) / w.sum(axis=1, keepdims=True)
        return mean_shift.ravel()  # H grad log f = local mean - x

    sol = integrate.solve_ivp(
        field, (0, t_end), X0.ravel(), rtol=1e-10, atol=1e-12, method="DOP853"
    )
    return sol.y[:, -1].reshape(m, d)


# ---------------------------------------------------------------------------
# 1. Basins: every start reaches the mode of its own basin
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_issue_start_reaches_its_own_mode(method):
    # Newton used to run from 10.24 past the mode 9.585 into the valley at
    # 9.306 and stop there, labelled -1 with a "saddle" at 9.119.
    kde = GaussianKDE(0.6).fit(ISSUE_DATA[:, None])
    modes, minima = _basins_1d(ISSUE_DATA, 0.6, 0.0, 21.0)
    expected = modes[(modes > minima[minima < 10.24].max()) & (modes < 10.24)]
    assert_allclose(expected, [9.58517], atol=1e-5)
    result = find_modes(kde, X0=[[10.24]], method=method)
    assert result.converged.all()
    assert_allclose(result.modes[result.labels], [expected], atol=1e-8)
    assert result.saddle_points.shape == (0, 1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(4))
def test_1d_labels_are_the_basins_between_neighbouring_minima(method, seed):
    rng = np.random.default_rng(seed)
    data = np.sort(rng.gamma(2.0, 3.0, 30))
    h = 0.5 + 0.2 * seed
    kde = GaussianKDE(h).fit(data[:, None])
    lo, hi = data.min() - 3 * h, data.max() + 3 * h
    modes, minima = _basins_1d(data, h, lo, hi)
    starts = np.linspace(lo, hi, 400)
    # Starts within a hundredth of a bandwidth of a minimum are ambiguous.
    clear = np.all(np.abs(starts[:, None] - minima[None, :]) > 1e-2 * h, axis=1)
    starts = starts[clear]
    expected = modes[np.searchsorted(np.sort(minima), starts)]
    result = find_modes(kde, starts[:, None], method=method, tol=1e-8)
    assert result.converged.all()
    assert_allclose(np.sort(result.modes[:, 0]), modes, atol=1e-7 * h)
    assert_allclose(result.modes[result.labels, 0], expected, atol=1e-7 * h)


@pytest.fixture(scope="module", params=[103, 205])
def scattered_2d(request):
    """Scattered 2-D data with many modes, a diagonal kernel, random starts,
    and where the flow takes each start."""
    rng = np.random.default_rng(request.param)
    data = rng.normal(size=(40, 2)) * [3, 2]
    H = np.diag(rng.uniform(0.3, 0.8, 2) ** 2)
    starts = rng.uniform(data.min(0), data.max(0), (150, 2))
    return data, H, starts, _flow_ends(starts, data, H)


@pytest.mark.parametrize("method", METHODS)
def test_2d_labels_follow_the_gradient_flow(method, scattered_2d):
    # Whole mean-shift steps (Euler steps of the flow) used to cut corners
    # into the next basin (seed 103: ~1% of starts), and a long Newton step
    # could cross a basin boundary inside a concave region (seed 205).
    data, H, starts, ends = scattered_2d
    result = find_modes(GaussianKDE(H).fit(data), starts, method=method, tol=1e-8)
    assert result.converged.all()
    reached = result.modes[result.labels]
    differ = np.flatnonzero(np.any(np.abs(reached - ends) > 1e-4, axis=1))
    # A start may differ only if it lies on a basin boundary to within 0.03
    # (a twentieth of a bandwidth): flows from 0.03 around it part ways.
    for i in differ:
        around = starts[i] + 0.03 * np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])
        assert np.ptp(_flow_ends(around, data, H), axis=0).max() > 1e-2, starts[i]


# ---------------------------------------------------------------------------
# 2. Only critical points are reported
# ---------------------------------------------------------------------------


def test_plateau_reports_no_false_modes():
    # 201 kernels evenly spaced 1/4 bandwidth apart: log f rises monotonically
    # from each end into a plateau flat to exp(-316). The stationary points
    # at float64 resolution are in the flat interior only.
    data = np.linspace(0, 100, 201)
    kde = GaussianKDE(2.0).fit(data[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = find_modes(kde, tol=1e-5)
    points = np.concatenate([result.modes, result.saddle_points])[:, 0]
    gradient = _kde_1d_log_gradient(points, data, 2.0) * 2.0
    assert np.all(np.abs(gradient) <= 1e-5)
    # Away from the plateau (within 20 bandwidths of an end) log f is not flat
    # (|d log f/dx| h > 1e-7 there, by the direct sum): nothing is reported.
    assert not np.any((points < 40) | (points > 60)) or np.all(
        np.abs(gradient[(points < 40) | (points > 60)]) < 1e-12
    )
    assert np.all(result.labels[~result.converged] == -1)


@pytest.mark.parametrize("method", ["auto", "newton"])
def test_flat_quartic_maximum_is_a_mode_to_the_promised_accuracy(method):
    # Unit kernels at -1 and 1: log f = log cosh(x) - x^2/2 + c = -x^4/12 + ...,
    # a maximum at 0 with a zero second derivative.
    kde = GaussianKDE(1.0).fit([[-1.0], [1.0]])
    result = find_modes(kde, method=method)
    assert result.modes.shape == (1, 1)
    assert abs(result.modes[0, 0]) <= 1e-4
    assert_array_equal(result.labels, 0)
    assert result.saddle_points.shape == (0, 1)


def test_saddles_and_modes_are_stationary_for_a_mixture():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 1, (300, 2)), rng.normal(2, 1, (300, 2))])
    gmm = GaussianMixtureGrad(2, random_state=0).fit(X)
    starts = np.array([[0.0, 0.0], *gmm.means_, [0.3, -0.2]])
    result = find_modes(gmm, starts, tol=1e-6)
    for points in (result.modes, result.saddle_points):
        if len(points):
            # The scaled gradient from the definition: sum_k r_k P_k (mu_k - x).
            P = np.linalg.inv(gmm.covariances_)
            r = gmm.predict_proba(points)
            g = np.einsum("nk,kij,nkj->ni", r, P, gmm.means_[None] - points[:, None])
            L = np.linalg.cholesky(result.scale)
            assert np.all(np.linalg.norm(g @ L, axis=1) <= 1e-6)


# ---------------------------------------------------------------------------
# 3. Stopping at floating-point resolution
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("centre", [0.1, 37.0, 2.5e6])
def test_modes_below_the_resolution_of_the_coordinates(method, centre):
    # Two points a few hundred ulps apart with Scott's bandwidth: the default
    # tol is far below one ulp in bandwidth units, yet the one mode (the
    # midpoint, by symmetry) is found to the last few bits.
    step = 300 * np.spacing(centre)
    data = np.array([[centre], [centre + step]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = find_modes(GaussianKDE().fit(data), method=method)
    assert result.converged.all()
    assert result.modes.shape == (1, 1)
    assert abs(result.modes[0, 0] - (centre + step / 2)) <= 8 * np.spacing(centre)
    assert_array_equal(result.labels, 0)


def test_issue_resolution_example():
    result = find_modes(GaussianKDE().fit([[0.1], [0.1000000000001]]))
    assert_allclose(result.modes, [[0.10000000000005]], rtol=1e-15)
    assert_array_equal(result.labels, 0)


# ---------------------------------------------------------------------------
# 6. A user's density with the wrong shapes
# ---------------------------------------------------------------------------


class _Bowl:
    """log f = -|x|^2 / 2, with derivative shapes that can be broken."""

    def __init__(self, bad=None):
        self.bad = bad

    def score_samples(self, X):
        X = np.asarray(X)
        value = -0.5 * np.sum(X**2, axis=1)
        return value[:, None] if self.bad == "score_samples" else value

    def gradient(self, X, log=False):
        X = np.asarray(X)
        return -X.ravel() if self.bad == "gradient" else -X

    def hessian(self, X, log=False):
        X = np.asarray(X)
        hess = -np.broadcast_to(np.eye(X.shape[1]), (len(X), X.shape[1], X.shape[1]))
        return hess[:, :, 0] if self.bad == "hessian" else hess.copy()


def test_user_density_well_formed_is_climbed():
    result = find_modes(_Bowl(), [[1.0, 2.0], [-3.0, 0.5]])
    assert_allclose(result.modes, [[0.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("bad", ["score_samples", "gradient", "hessian"])
def test_user_density_with_wrong_shape_is_named(bad):
    with pytest.raises(ValueError, match=rf"{bad}\(X, log=True\) has shape"):
        find_modes(_Bowl(bad), [[1.0, 2.0], [-3.0, 0.5], [0.2, 0.1]])
