"""Start strategies of find_modes (X0=None, "grid", "sample", an array).

The oracle example is Carreira-Perpinan and Williams (2003): three equal
isotropic Gaussians at 120 degrees on the unit circle. By symmetry the
centroid is a critical point, with Hessian of log f equal to
(1 / (2 s^4) - 1 / s^2) I, a maximum for s^2 > 1/2; up to s ~ 0.74 the three
outer maxima survive, so s = 0.72 gives four modes, the centre one in a basin
that holds none of the three centres. The modes are found independently here
by scipy.optimize on the mixture summed with scipy.stats.multivariate_normal,
and counted as the local maxima of that sum on a fine grid.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize, stats
from scipy.special import logsumexp

from skdensity import GaussianKDE, GaussianMixtureGrad, find_modes
from skdensity._modes._starts import grid_starts, resolve_starts

SIGMA = 0.72


def _triangle(rotation_deg=0.0, shift=(0.0, 0.0)):
    angles = np.deg2rad(np.array([90.0, 210.0, 330.0]) + rotation_deg)
    return np.column_stack([np.cos(angles), np.sin(angles)]) + np.asarray(shift)


def _oracle_log_f(x, centres):
    """log of (1/3) sum_i N(x; c_i, SIGMA^2 I), summed with scipy.stats."""
    terms = [
        stats.multivariate_normal(c, SIGMA**2 * np.eye(2)).logpdf(x) for c in centres
    ]
    return logsumexp(terms, axis=0) - np.log(len(centres))


def _oracle_grad_log_f(x, centres):
    """Its gradient, derived by hand: sum_i r_i (c_i - x) / SIGMA^2."""
    d2 = np.sum((centres - x) ** 2, axis=1)
    r = np.exp(-(d2 - d2.min()) / (2 * SIGMA**2))
    return (r / r.sum()) @ (centres - x) / SIGMA**2


def _oracle_modes(centres):
    """The four maxima: BFGS from the centroid and each centre, then the
    root of the gradient (the centre mode is flat: BFGS alone stops ~1e-8
    from it)."""
    starts = np.vstack([centres.mean(axis=0) + [0.01, -0.02], centres])
    modes = []
    for x0 in starts:
        fit = optimize.minimize(
            lambda x: -_oracle_log_f(x, centres),
            x0,
            jac=lambda x: -_oracle_grad_log_f(x, centres),
            method="BFGS",
            options={"gtol": 1e-13, "maxiter": 1000},
        )
        root = optimize.root(lambda x: _oracle_grad_log_f(x, centres), fit.x)
        # |grad| / |curvature| (0.07 at the flat centre) bounds the error.
        assert np.linalg.norm(_oracle_grad_log_f(root.x, centres)) < 1e-13
        modes.append(root.x)
    return np.array(modes)


def _match(found, expected, atol):
    """Every expected point has one found point within atol, and vice versa."""
    assert len(found) == len(expected), (found, expected)
    dist = np.linalg.norm(found[:, None, :] - expected[None, :, :], axis=-1)
    assert_allclose(dist.min(axis=0), 0.0, atol=atol)
    assert_allclose(dist.min(axis=1), 0.0, atol=atol)


def test_oracle_has_four_modes_and_the_centre_is_one():
    centres = _triangle()
    modes = _oracle_modes(centres)
    # The centre by symmetry; the others on the rays through the centres.
    assert_allclose(modes[0], [0.0, 0.0], atol=1e-12)
    for mode, centre in zip(modes[1:], centres, strict=True):
        assert abs(mode[0] * centre[1] - mode[1] * centre[0]) < 1e-12
        assert 0.3 < np.linalg.norm(mode) < 1.0
    # Within sqrt(d) scale units of a centre, as every mode of a KDE is
    # (skdensity._modes._starts), and near that bound: 1 / 0.72 = 1.39.
    assert np.linalg.norm(centres - modes[0], axis=1).min() / SIGMA < np.sqrt(2)
    # Closed-form Hessian of log f at the centroid: negative definite.
    assert 1 / (2 * SIGMA**4) - 1 / SIGMA**2 < 0
    # A fine grid of the explicit sum has exactly four strict local maxima,
    # each next to one of the modes.
    t = np.linspace(-1.5, 1.5, 601)
    G = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1)
    logf = _oracle_log_f(G.reshape(-1, 2), centres).reshape(G.shape[:2])
    core = logf[1:-1, 1:-1]
    is_max = np.ones(core.shape, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                shifted = logf[1 + di : 600 + di, 1 + dj : 600 + dj]
                is_max &= core > shifted
    peaks = G[1:-1, 1:-1][is_max]
    _match(peaks, modes, atol=t[1] - t[0])


def _cp_kde(rotation_deg=0.0, shift=(0.0, 0.0)):
    centres = _triangle(rotation_deg, shift)
    return GaussianKDE(bandwidth=SIGMA).fit(centres), centres


def test_default_starts_miss_the_centre_mode():
    kde, centres = _cp_kde()
    result = find_modes(kde)
    _match(result.modes, _oracle_modes(centres)[1:], atol=1e-7)


# The lattice's position relative to the centre mode changes with the
# rotation of the triangle: the search must not depend on a lucky node.
@pytest.mark.parametrize("rotation_deg", [0.0, 17.0, 45.0, 100.0])
def test_grid_starts_find_all_four_modes(rotation_deg):
    kde, centres = _cp_kde(rotation_deg, shift=(3.3, -1.7))
    result = find_modes(kde, X0=resolve_starts(kde, "grid"))
    _match(result.modes, _oracle_modes(centres), atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_starts_find_all_four_modes(seed):
    kde, centres = _cp_kde(30.0)
    result = find_modes(kde, X0=resolve_starts(kde, "sample", random_state=seed))
    _match(result.modes, _oracle_modes(centres), atol=1e-7)


@pytest.mark.parametrize("X0", ["grid", "sample"])
def test_find_modes_accepts_the_strategies(X0):
    kde, centres = _cp_kde(10.0)
    result = find_modes(kde, X0=X0, random_state=0)
    _match(result.modes, _oracle_modes(centres), atol=1e-7)
    assert np.all(result.labels[result.converged] >= -1)


def _cp_mixture(covariance_type):
    """The same density as a GaussianMixtureGrad built by hand."""
    centres = _triangle(shift=(-2.0, 5.0))
    gm = GaussianMixtureGrad(3, covariance_type=covariance_type)
    gm.weights_ = np.full(3, 1 / 3)
    gm.means_ = centres.copy()
    var = SIGMA**2
    gm.covariances_ = {
        "spherical": np.full(3, var),
        "diag": np.full((3, 2), var),
        "tied": var * np.eye(2),
        "full": np.tile(var * np.eye(2), (3, 1, 1)),
    }[covariance_type]
    gm.precisions_cholesky_ = {
        "spherical": np.full(3, 1 / SIGMA),
        "diag": np.full((3, 2), 1 / SIGMA),
        "tied": np.eye(2) / SIGMA,
        "full": np.tile(np.eye(2) / SIGMA, (3, 1, 1)),
    }[covariance_type]
    gm.n_features_in_ = 2
    return gm, centres


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "tied", "full"])
def test_mixture_grid_and_sample_find_the_centre_mode(covariance_type):
    gm, centres = _cp_mixture(covariance_type)
    expected = _oracle_modes(centres)
    assert_allclose(gm.score_samples(expected), _oracle_log_f(expected, centres))
    _match(find_modes(gm).modes, expected[1:], atol=1e-7)
    for X0 in ("grid", "sample"):
        starts = resolve_starts(gm, X0, random_state=0)
        _match(find_modes(gm, X0=starts).modes, expected, atol=1e-7)
    _match(find_modes(gm, X0="grid").modes, expected, atol=1e-7)
    _match(find_modes(gm, X0="sample", random_state=0).modes, expected, atol=1e-7)


# ---------------------------------------------------------------------------
# X0=None
# ---------------------------------------------------------------------------


def test_default_starts_are_a_copy_of_the_centres_or_the_means():
    kde, centres = _cp_kde()
    starts = resolve_starts(kde, None)
    assert_array_equal(starts, centres)
    starts[0] = 99.0
    assert_array_equal(kde.X_fit_, centres)
    gm, centres = _cp_mixture("full")
    assert_array_equal(resolve_starts(gm, None), centres)


def test_default_starts_subsample_a_large_kde():
    X = np.random.default_rng(0).normal(size=(10_050, 1))
    kde = GaussianKDE(bandwidth=0.5).fit(X)
    starts = resolve_starts(kde, None, random_state=0)
    assert starts.shape == (10_000, 1)
    # Distinct rows of X, in X's order.
    index = np.searchsorted(np.sort(X[:, 0]), starts[:, 0])
    assert_array_equal(np.sort(X[:, 0])[index], starts[:, 0])
    order = np.argsort(X[:, 0])[index]
    assert np.all(np.diff(order) > 0)
    assert_array_equal(resolve_starts(kde, None, random_state=0), starts)
    assert not np.array_equal(resolve_starts(kde, None, random_state=1), starts)


class _DoubleWell:
    """A user's density: log f = -(x1^2 - 1)^2 - x2^2 / 2, modes (+-1, 0)."""

    def score_samples(self, X):
        X = np.asarray(X, dtype=float)
        return -((X[:, 0] ** 2 - 1) ** 2) - 0.5 * X[:, 1] ** 2

    def gradient(self, X, log=False):
        X = np.asarray(X, dtype=float)
        return np.column_stack([-4 * X[:, 0] * (X[:, 0] ** 2 - 1), -X[:, 1]])

    def hessian(self, X, log=False):
        X = np.asarray(X, dtype=float)
        H = np.zeros((len(X), 2, 2))
        H[:, 0, 0] = 4 - 12 * X[:, 0] ** 2
        H[:, 1, 1] = -1.0
        return H


def test_a_users_density_needs_x0_or_points():
    with pytest.raises(ValueError, match="no default starts; pass X0"):
        resolve_starts(_DoubleWell(), None)
    with pytest.raises(ValueError, match="neither X_fit_ .* nor means_"):
        resolve_starts(_DoubleWell(), "grid")
    with pytest.raises(ValueError, match="has no sample method"):
        resolve_starts(_DoubleWell(), "sample")


# ---------------------------------------------------------------------------
# X0="grid": what it guarantees
# ---------------------------------------------------------------------------


def _mahalanobis(P, Q, H, k=1):
    """The k-th smallest distance from each row of P to the rows of Q in the
    metric of H (brute force, a few rows of P at a time)."""
    out = []
    for start in range(0, len(P), 16):
        diff = P[start : start + 16, None, :] - Q[None, :, :]
        sol = np.linalg.solve(H, diff.reshape(-1, H.shape[0]).T).T
        dist = np.sqrt(np.einsum("pqi,pqi->pq", diff, sol.reshape(diff.shape)))
        out.append(np.partition(dist, k - 1, axis=1)[:, k - 1])
    return np.concatenate(out)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_grid_covers_every_point_near_a_centre(d):
    rng = np.random.default_rng(d)
    X = rng.normal(size=(25, d)) * [3.0, 1.0, 2.0][:d] + 100.0
    B = rng.normal(size=(d, d))
    H = 0.3 * (B @ B.T + 0.5 * np.eye(d))  # a full (correlated) kernel
    kde = GaussianKDE(bandwidth=H).fit(X)
    nodes, spacing = grid_starts(kde)
    assert_allclose(resolve_starts(kde, "grid"), nodes)
    rho = spacing * np.sqrt(d) / 2
    assert len(nodes) <= 10_000
    # Every point within sqrt(d) scale units of a centre (where every mode
    # lies) has a node within the covering radius rho ...
    L = np.linalg.cholesky(H)
    u = rng.normal(size=(400, d))
    u *= (
        np.sqrt(d)
        * rng.uniform(size=(400, 1)) ** (1 / d)
        / np.linalg.norm(u, axis=1, keepdims=True)
    )
    points = X[rng.integers(len(X), size=400)] + u @ L.T
    assert _mahalanobis(points, nodes, H).max() <= rho * (1 + 1e-9)
    # ... and no node lies further than sqrt(d) + rho from every centre.
    assert _mahalanobis(nodes, X, H).max() <= (np.sqrt(d) + rho) * (1 + 1e-9)
    # The nodes form a lattice of the stated spacing in the metric of H.
    nearest = _mahalanobis(nodes[:200], nodes, H, k=2)
    assert_allclose(nearest, spacing, rtol=1e-9)


def test_grid_in_3d_and_refused_in_4d():
    X = np.random.default_rng(0).normal(size=(200, 4))
    kde3 = GaussianKDE().fit(X[:, :3])
    nodes, spacing = grid_starts(kde3)
    assert nodes.shape[1] == 3 and 1_000 < len(nodes) <= 10_000
    assert 0.25 <= spacing <= 1.0
    with pytest.raises(ValueError, match="at most 3 features.*density has 4"):
        resolve_starts(GaussianKDE().fit(X), "grid")


def test_grid_warns_when_the_budget_coarsens_it():
    X = np.random.default_rng(0).uniform(0, 1e4, size=(3000, 2))
    kde = GaussianKDE(bandwidth=1.0).fit(X)
    with pytest.warns(UserWarning, match="spacing grew from 0.25 to"):
        nodes, spacing = grid_starts(kde)
    assert spacing > 1.0 and len(nodes) <= 10_000


@pytest.mark.parametrize("covariance_type", ["spherical", "full"])
def test_grid_of_a_mixture_fills_the_padded_box(covariance_type):
    gm, centres = _cp_mixture(covariance_type)
    nodes, spacing = grid_starts(gm)
    assert spacing == 0.25
    step = spacing * SIGMA
    lo, hi = nodes.min(axis=0), nodes.max(axis=0)
    assert np.all(lo <= centres.min(axis=0) - 3 * SIGMA)
    assert np.all(hi >= centres.max(axis=0) + 3 * SIGMA)
    assert np.all(lo > centres.min(axis=0) - 3 * SIGMA - step)
    n_axis = np.round((hi - lo) / step).astype(int) + 1
    assert len(nodes) == np.prod(n_axis)


def test_grid_of_a_users_density_with_points_uses_its_curvature():
    density = _DoubleWell()
    density.X_fit_ = np.array([[-1.0, 0.0], [1.0, 0.0]])
    nodes = resolve_starts(density, "grid")
    # Scale from the largest curvature at the points (8): 1/sqrt(8).
    unit = 1 / np.sqrt(8.0)
    assert_allclose(np.diff(np.unique(nodes[:, 0]))[0], 0.25 * unit)
    assert nodes[:, 0].min() <= -1 - 3 * unit and nodes[:, 1].max() >= 3 * unit
    result = find_modes(density, X0=nodes)
    assert_allclose(result.modes[np.argsort(result.modes[:, 0])], [[-1, 0], [1, 0]])


# ---------------------------------------------------------------------------
# X0="sample"
# ---------------------------------------------------------------------------


def test_sample_draws_at_least_1000_and_as_many_as_the_default_starts():
    kde, _ = _cp_kde()
    starts = resolve_starts(kde, "sample", random_state=0)
    assert starts.shape == (1000, 2)
    assert_array_equal(resolve_starts(kde, "sample", random_state=0), starts)
    assert not np.array_equal(resolve_starts(kde, "sample", random_state=1), starts)
    big = GaussianKDE(bandwidth=0.3).fit(
        np.random.default_rng(0).normal(size=(1500, 1))
    )
    assert resolve_starts(big, "sample", random_state=0).shape == (1500, 1)
    gm, _ = _cp_mixture("tied")  # sample returns (X, y)
    assert resolve_starts(gm, "sample", random_state=0).shape == (1000, 2)


class _Sampled(_DoubleWell):
    """A user's density with ``sample(n)`` (no random_state)."""

    n_features_in_ = 2

    def __init__(self, shape=None):
        self.shape = shape

    def sample(self, n):
        return np.zeros(self.shape or (n, 2))


def test_sample_of_a_users_density():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_starts(_Sampled(), "sample").shape == (1000, 2)
    with pytest.warns(UserWarning, match="takes no random_state"):
        resolve_starts(_Sampled(), "sample", random_state=0)
    with pytest.raises(
        ValueError, match=r"_Sampled.sample\(1000\) returned .*\(3, 2\)"
    ):
        resolve_starts(_Sampled(shape=(3, 2)), "sample")


# ---------------------------------------------------------------------------
# X0 as an array: validated like the estimators' X
# ---------------------------------------------------------------------------


def test_other_strings_are_refused_with_the_options():
    kde, _ = _cp_kde()
    with pytest.raises(ValueError, match="one of \\('grid', 'sample'\\)"):
        resolve_starts(kde, "grids")
    with pytest.raises(ValueError, match="X0"):
        find_modes(kde, X0="random")


def test_array_starts_are_checked():
    kde, _ = _cp_kde()
    starts = resolve_starts(kde, [[0, 1], [2, 3]])
    assert starts.dtype == np.float64
    assert_array_equal(starts, [[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="X0 has 3 features, but the density has 2"):
        resolve_starts(kde, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Input X0 contains NaN"):
        resolve_starts(kde, [[np.nan, 0.0]])
    # A user's density (not an estimator): converted, no feature-name check.
    assert_array_equal(resolve_starts(_DoubleWell(), [[1, 2]]), [[1.0, 2.0]])


@pytest.fixture
def named():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_triangle() * [1.0, 2.0], columns=["a", "b"])
    return pd, X


@pytest.mark.parametrize("kind", ["kde", "mixture"])
def test_dataframe_starts_must_match_the_feature_names(named, kind):
    pd, X = named
    density = (
        GaussianKDE(bandwidth=SIGMA).fit(X)
        if kind == "kde"
        else GaussianMixtureGrad(2, random_state=0).fit(pd.concat([X] * 3))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_array_equal(resolve_starts(density, X), X.to_numpy())
    with pytest.raises(ValueError, match=r"another order.*X0\[\['a', 'b'\]\]"):
        resolve_starts(density, X[["b", "a"]])
    with pytest.raises(ValueError, match="feature names should match"):
        resolve_starts(density, X.rename(columns={"b": "c"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        resolve_starts(density, X.to_numpy())


def test_dataframe_starts_for_a_density_fitted_without_names(named):
    _, X = named
    kde = GaussianKDE(bandwidth=SIGMA).fit(X.to_numpy())
    with pytest.warns(UserWarning, match="X has feature names"):
        assert_array_equal(resolve_starts(kde, X), X.to_numpy())


def test_find_modes_refuses_reordered_columns(named):
    _, X = named
    kde = GaussianKDE(bandwidth=SIGMA).fit(X)
    with pytest.raises(ValueError, match="another order"):
        find_modes(kde, X0=X[["b", "a"]])
