"""The mode hierarchy of ModeClustering: saddles, prominence, merge tree.

Oracles, independent of the library: in 1-D the saddles between neighbouring
modes are the minima of the directly summed KDE (scipy.stats.norm), found on
a fine grid and refined by bounded scalar minimisation, and a mode's
prominence is its height above the higher of the lowest points between it
and the nearest higher mode on either side; in 2-D, for three Gaussians, the
saddles are roots of the explicitly summed gradient (scipy.optimize.root
from each midpoint, analytic Hessian), and the levels at which the modes
join follow from the three saddles by hand.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize, stats
from scipy.cluster.hierarchy import dendrogram, is_valid_linkage
from sklearn.datasets import load_wine, make_blobs
from sklearn.metrics import adjusted_rand_score

from skdensity import GaussianKDE, ModeClustering

# Saddle positions (kernel scales) and log-densities are checked to these;
# the oracles are refined to ~1e-12 and ~1e-14.
POINT_TOL = 1e-6
LOG_TOL = 1e-9


def _fit(X, **params):
    """ModeClustering without merging; the many-singletons warning of tiny
    data sets is not what these tests look at."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*training points are in")
        return ModeClustering(min_cluster_size=1, **params).fit(X)


# ---------------------------------------------------------------------------
# 1-D: minima of the directly summed KDE
# ---------------------------------------------------------------------------


class _DirectKDE1D:
    """The KDE of ``x`` with bandwidth ``h`` summed directly, and its modes
    and minima from a fine grid, refined by bounded scalar minimisation."""

    def __init__(self, x, h):
        self.x, self.h = x, h
        grid = np.linspace(x.min() - 1, x.max() + 1, 100_001)
        v = np.concatenate([self.log_f(g) for g in np.array_split(grid, 20)])
        inner = slice(1, -1)
        peak = np.flatnonzero((v[inner] > v[:-2]) & (v[inner] > v[2:])) + 1
        dip = np.flatnonzero((v[inner] < v[:-2]) & (v[inner] < v[2:])) + 1
        self.modes = np.array([self._refine(grid, i, -1.0) for i in peak])
        self.minima = np.array([self._refine(grid, i, 1.0) for i in dip])

    def log_f(self, t):
        t = np.atleast_1d(t)
        kernel = stats.norm.pdf((t[:, None] - self.x[None, :]) / self.h)
        return np.log(kernel.sum(axis=1) / (len(self.x) * self.h))

    def _refine(self, grid, i, sign):
        return optimize.minimize_scalar(
            lambda t: sign * self.log_f(t)[0],
            bounds=(grid[i - 1], grid[i + 1]),
            method="bounded",
            options={"xatol": 1e-12},
        ).x

    def prominence(self):
        """Height of each mode above the higher of the lowest points between
        it and the nearest higher mode on either side (inf for the top)."""
        f_mode, f_min = self.log_f(self.modes), self.log_f(self.minima)
        out = np.full(len(f_mode), np.inf)
        for i in range(len(f_mode)):
            cols = []
            for side in (-1, 1):
                j = i + side
                while 0 <= j < len(f_mode) and f_mode[j] <= f_mode[i]:
                    j += side
                if 0 <= j < len(f_mode):
                    lo, hi = sorted((i, j))
                    cols.append(f_min[lo:hi].min())  # minima between them
            if cols:
                out[i] = f_mode[i] - max(cols)
        return out


def _quantiles(n, mean, std):
    """A smooth deterministic sample: the normal's (i + 1/2)/n quantiles."""
    return stats.norm.ppf((np.arange(n) + 0.5) / n) * std + mean


@pytest.mark.parametrize(("seed", "h"), [(0, 0.5), (1, 0.3), (2, 0.2), (7, 0.3)])
def test_1d_saddles_are_the_minima_of_the_summed_kde(seed, h):
    rng = np.random.default_rng(seed)
    x = np.concatenate(
        [rng.normal(0, 1, 60), rng.normal(5, 0.7, 40), rng.normal(9, 1.2, 50)]
    )
    oracle = _DirectKDE1D(x, h)
    hierarchy = _fit(x[:, None], density=GaussianKDE(h)).hierarchy_
    assert_allclose(np.sort(hierarchy.modes[:, 0]), oracle.modes, atol=POINT_TOL * h)
    assert hierarchy.saddle_refined.all()
    order = np.argsort(hierarchy.saddle_points[:, 0])
    assert_allclose(
        hierarchy.saddle_points[order, 0], oracle.minima, atol=POINT_TOL * h
    )
    assert_allclose(
        hierarchy.saddle_log_density[order], oracle.log_f(oracle.minima), atol=LOG_TOL
    )
    # Each saddle joins the two modes on either side of it.
    between = zip(hierarchy.saddle_modes, hierarchy.saddle_points[:, 0], strict=True)
    for (a, b), s in between:
        left, right = sorted(hierarchy.modes[[a, b], 0])
        assert left < s < right
        tol = POINT_TOL * h
        assert not np.any((oracle.modes > left + tol) & (oracle.modes < right - tol))


def test_1d_prominence_and_merging_by_prominence():
    x = np.concatenate(
        [_quantiles(200, 0.0, 1.0), _quantiles(120, 4.5, 0.7), _quantiles(40, 7, 0.5)]
    )
    h = 0.45
    oracle = _DirectKDE1D(x, h)
    assert len(oracle.modes) == 3
    prominence = oracle.prominence()  # inf, 1.89 (the mode at 4.5), 0.25 (at 7)
    clustering = _fit(x[:, None], density=GaussianKDE(h))
    hierarchy = clustering.hierarchy_
    order = np.argsort(hierarchy.modes[:, 0])
    assert_allclose(hierarchy.prominence[order], prominence, atol=LOG_TOL)
    assert len(clustering.cluster_centers_) == 3

    # Basins: the intervals between the oracle's minima.
    basin = np.searchsorted(oracle.minima, x)
    assert adjusted_rand_score(basin, clustering.labels_) == 1.0
    # Between the two prominences: the mode at 7 joins its higher neighbour.
    merged = _fit(x[:, None], density=GaussianKDE(h), min_prominence=1.0)
    assert len(merged.cluster_centers_) == 2
    assert merged.n_merged_clusters_ == 1
    assert adjusted_rand_score(np.minimum(basin, 1), merged.labels_) == 1.0
    assert_allclose(
        np.sort(merged.cluster_centers_[:, 0]), oracle.modes[:2], atol=POINT_TOL * h
    )
    assert_array_equal(merged.predict(x[:, None]), merged.labels_)
    # Above both: one cluster; 0 merges nothing, like None.
    assert (
        len(
            _fit(
                x[:, None], density=GaussianKDE(h), min_prominence=2.0
            ).cluster_centers_
        )
        == 1
    )
    none = _fit(x[:, None], density=GaussianKDE(h), min_prominence=0.0)
    assert len(none.cluster_centers_) == 3


# ---------------------------------------------------------------------------
# 2-D: three Gaussians, saddles by root finding on the summed gradient
# ---------------------------------------------------------------------------

TRIANGLE = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.6]])
WEIGHTS = np.array([3, 2, 1])


class _Mixture2D:
    """Equal isotropic Gaussians of standard deviation ``sigma`` at
    ``centres`` with integer weights, summed explicitly."""

    def __init__(self, centres, weights, sigma):
        self.centres, self.sigma = centres, sigma
        self.w = weights / weights.sum()

    def _terms(self, x):
        diff = x[None, :] - self.centres
        log_terms = np.log(self.w) - 0.5 * (diff**2).sum(axis=1) / self.sigma**2
        return diff, log_terms - np.log(2 * np.pi * self.sigma**2)

    def log_f(self, x):
        return np.logaddexp.reduce(self._terms(x)[1])

    def gradient(self, x):
        diff, log_terms = self._terms(x)
        r = np.exp(log_terms - np.logaddexp.reduce(log_terms))
        return -(r[:, None] * diff).sum(axis=0) / self.sigma**2

    def hessian(self, x):
        diff, log_terms = self._terms(x)
        r = np.exp(log_terms - np.logaddexp.reduce(log_terms))
        g = self.gradient(x)
        outer = np.einsum("k,ki,kj->ij", r, diff, diff) / self.sigma**4
        return outer - np.eye(2) / self.sigma**2 - np.outer(g, g)

    def critical_point(self, x0):
        root = optimize.root(self.gradient, x0, jac=self.hessian, tol=1e-14)
        assert np.linalg.norm(self.gradient(root.x)) < 1e-11
        return root.x


def test_2d_three_gaussians_saddles_and_prominence():
    sigma = 1.0
    oracle = _Mixture2D(TRIANGLE, WEIGHTS, sigma)
    modes = np.array([oracle.critical_point(c) for c in TRIANGLE])
    saddle = {}
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        point = oracle.critical_point((TRIANGLE[i] + TRIANGLE[j]) / 2)
        eig = np.linalg.eigvalsh(oracle.hessian(point))
        assert eig[0] < 0 < eig[1]  # an index-1 saddle
        saddle[i, j] = point
    s = {pair: oracle.log_f(p) for pair, p in saddle.items()}
    f_mode = np.array([oracle.log_f(m) for m in modes])
    assert np.all(np.diff(f_mode) < 0)  # modes 0, 1, 2 by decreasing density
    # Mode 2's island meets a higher one at its higher saddle; mode 1's meets
    # mode 0's directly or through mode 2's, whichever path is higher.
    expected = {
        2: f_mode[2] - max(s[0, 2], s[1, 2]),
        1: f_mode[1] - max(s[0, 1], min(s[0, 2], s[1, 2])),
    }

    X = np.repeat(TRIANGLE, WEIGHTS, axis=0)  # a KDE of these is the mixture
    hierarchy = _fit(X, density=GaussianKDE(sigma)).hierarchy_
    assert_allclose(hierarchy.modes, modes, atol=1e-8)
    assert_allclose(hierarchy.log_density, f_mode, atol=LOG_TOL)
    assert np.isinf(hierarchy.prominence[0])
    assert_allclose(hierarchy.prominence[1:], [expected[1], expected[2]], atol=LOG_TOL)
    assert hierarchy.saddle_refined.all()
    for pair, point, value in zip(
        hierarchy.saddle_modes,
        hierarchy.saddle_points,
        hierarchy.saddle_log_density,
        strict=True,
    ):
        assert_allclose(point, saddle[tuple(pair)], atol=POINT_TOL * sigma)
        assert_allclose(value, s[tuple(pair)], atol=LOG_TOL)
    # The tree's edges are the two highest of the three saddles, highest
    # first; the first merge ends the lower mode of its pair.
    tree = sorted(s, key=s.get, reverse=True)[:2]
    assert [tuple(pair) for pair in hierarchy.saddle_modes] == tree
    assert hierarchy.merge_child[0] == max(tree[0])
    assert sorted(hierarchy.merge_child) == [1, 2]


def test_linkage_is_valid_and_monotone():
    X, _ = make_blobs(400, centers=[[0, 0], [6, 0], [3, 5], [9, 5]], random_state=0)
    clustering = ModeClustering(GaussianKDE(0.8)).fit(X)
    hierarchy = clustering.hierarchy_
    k = len(hierarchy.modes)
    assert k >= 4
    Z = hierarchy.linkage
    assert Z.shape == (k - 1, 4)
    assert is_valid_linkage(Z)
    assert np.all(np.diff(Z[:, 2]) >= 0)
    assert Z[-1, 3] == k
    assert_allclose(
        Z[:, 2], hierarchy.log_density[0] - hierarchy.saddle_log_density, atol=1e-12
    )
    leaves = dendrogram(Z, no_plot=True)["leaves"]
    assert sorted(leaves) == list(range(k))
    # Prominence and parent agree with the merges.
    child = hierarchy.merge_child
    assert_allclose(
        hierarchy.prominence[child],
        hierarchy.log_density[child] - hierarchy.saddle_log_density,
    )
    assert_array_equal(hierarchy.parent[child], hierarchy.merge_parent)
    assert np.all(hierarchy.merge_parent < hierarchy.merge_child)
    assert hierarchy.n_points.sum() == np.count_nonzero(clustering.labels_ >= 0)


def test_one_mode_has_an_empty_tree():
    X, _ = make_blobs(200, centers=[[0, 0]], random_state=0)
    hierarchy = ModeClustering().fit(X).hierarchy_
    assert len(hierarchy.modes) == 1
    assert_array_equal(hierarchy.prominence, [np.inf])
    assert_array_equal(hierarchy.parent, [-1])
    assert hierarchy.linkage.shape == (0, 4)
    assert hierarchy.saddle_points.shape == (0, 2)


def test_heads_follow_parents_up_the_tree():
    x = np.concatenate(
        [_quantiles(200, 0.0, 1.0), _quantiles(120, 4.5, 0.7), _quantiles(40, 7, 0.5)]
    )
    hierarchy = _fit(x[:, None], density=GaussianKDE(0.45)).hierarchy_
    assert_array_equal(hierarchy.heads(None), [0, 1, 2])
    assert_array_equal(hierarchy.heads(1.0), [0, 1, 1])
    assert_array_equal(hierarchy.heads(10.0), [0, 0, 0])


def test_far_groups_are_joined_in_one_tree():
    # No training point of one group neighbours the other: the tree still
    # joins them (straight segment between the nearest modes).
    X = np.vstack(
        [_quantiles(50, 0.0, 1.0)[:, None], _quantiles(50, 60.0, 1.0)[:, None]]
    )
    hierarchy = _fit(X, density=GaussianKDE(0.5)).hierarchy_
    assert len(hierarchy.modes) == 2
    assert hierarchy.linkage.shape == (1, 4)
    assert np.isfinite(hierarchy.saddle_log_density).all()
    assert 1 < hierarchy.saddle_points[0, 0] < 59


# ---------------------------------------------------------------------------
# Minimum cluster size
# ---------------------------------------------------------------------------


def _grid_blob(centre, n_side=14):
    """A smooth deterministic 2-D blob: the product of normal quantiles."""
    q = _quantiles(n_side, 0.0, 1.0)
    return np.column_stack([g.ravel() for g in np.meshgrid(q, q)]) + centre


def test_default_minimum_cluster_size_is_ks_rule():
    # n = 401: ks::kms merges clusters of at most round(0.01 n) = 4 points.
    four = np.array([[4.0, 20.0], [4.1, 20.0], [4.0, 20.1], [4.1, 20.1]])
    five = np.array([[30.0, 0.0], [30.1, 0.0], [30.0, 0.1], [30.1, 0.1], [30, -0.1]])
    X = np.vstack([_grid_blob([0, 0]), _grid_blob([8, 0]), four, five])
    kde = GaussianKDE(0.6)
    full = _fit(X, density=kde)
    assert len(full.cluster_centers_) == 4
    clustering = ModeClustering(kde).fit(X)
    assert len(clustering.cluster_centers_) == 3
    assert clustering.n_merged_clusters_ == 1
    sizes = np.bincount(clustering.labels_)
    assert sorted(sizes) == [5, 196, 200]
    assert len(set(clustering.labels_[-5:])) == 1
    assert_array_equal(clustering.predict(X), clustering.labels_)
    # The same as a fraction, and as the count it stands for.
    as_count = ModeClustering(kde, min_cluster_size=5).fit(X)
    assert_array_equal(as_count.labels_, clustering.labels_)
    larger = ModeClustering(kde, min_cluster_size=0.0125).fit(X)  # round(5.01) = 5
    assert len(larger.cluster_centers_) == 2
    assert larger.n_merged_clusters_ == 2


def test_wine_warns_and_merges_singletons():
    X = load_wine().data
    with pytest.warns(UserWarning, match="178 of 178 training points are in"):
        clustering = ModeClustering().fit(X)
    n_clusters = len(clustering.cluster_centers_)
    assert n_clusters <= 30
    assert (
        clustering.n_merged_clusters_ == len(clustering.hierarchy_.modes) - n_clusters
    )
    assert np.bincount(clustering.labels_).min() >= 3  # round(1.78) + 1
    # The warning also comes without merging (40 points in 10-D, each its
    # own mode), and not for well-separated data.
    lone = np.random.default_rng(0).normal(size=(40, 10))
    with pytest.warns(UserWarning, match="They are kept"):
        ModeClustering(min_cluster_size=1).fit(lone)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ModeClustering().fit(make_blobs(300, centers=3, random_state=0)[0])
    assert not [w for w in caught if "training points are in" in str(w.message)]


@pytest.mark.parametrize(
    "params",
    [
        {"min_cluster_size": 0},
        {"min_cluster_size": 1.0},
        {"min_cluster_size": -0.5},
        {"min_cluster_size": "ks"},
        {"min_prominence": -1.0},
        {"min_prominence": "high"},
    ],
)
def test_bad_parameters(params):
    X, _ = make_blobs(30, random_state=0)
    with pytest.raises(ValueError, match=next(iter(params))):
        ModeClustering(**params).fit(X)
