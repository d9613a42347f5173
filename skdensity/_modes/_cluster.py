"""Mode clustering: each point belongs to the mode its ascent of log f reaches."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.spatial import cKDTree
from sklearn.base import BaseEstimator, ClusterMixin, clone

from .._core import (
    HasMethods,
    Interval,
    check_is_fitted,
    discard_fit_on_error,
    fit_context,
    validate_data,
)
from .._progress import progress_bar
from ._ascent import _ascend, without_feature_names_warning
from ._find import (
    ASCENT_CONSTRAINTS,
    DENSITY_METHODS,
    _summarise,
    _warn_not_converged,
    missing_methods,
    prepare_ascent,
    resolve_merge_tol,
)
from ._hierarchy import build_hierarchy, merge_small_clusters

#: An end point belongs to the nearest mode within this many merge_tol: a loose
#: tol leaves end points short of the mode along its flattest direction.
_ASSIGN_FACTOR = 10
#: Largest number of seeds whose ascent finds the modes before all points climb.
_N_SEEDS = 1000


class ModeClustering(ClusterMixin, BaseEstimator):
    r"""Cluster points by the mode of a fitted density that their ascent reaches.

    ``fit`` fits a clone of ``density`` to ``X``, climbs :math:`\log f` from
    every point with :func:`~skdensity.find_modes`, and labels each point by
    the mode it reaches: the clusters are the modes' basins of attraction.
    ``predict`` climbs from new points the same way (unlike
    :class:`sklearn.cluster.MeanShift`, which labels by the nearest centre).

    Parameters
    ----------
    density : estimator, default=None
        An unfitted density estimator with ``fit``, ``score_samples``,
        ``gradient`` and ``hessian``, e.g. :class:`~skdensity.GaussianKDE` or
        :class:`~skdensity.GaussianMixtureGrad`. ``None`` means
        ``GaussianKDE()`` (Scott's bandwidth). It is cloned, never changed.
    method : {"auto", "mean-shift", "newton"}, default="auto"
        Ascent method of :func:`~skdensity.find_modes`.
    tol : float, default=1e-3
        Convergence tolerance of each point's ascent, in units of the kernel
        (or component) scale. The labels only need the basin, so it is loose;
        the cluster centres are refined to :math:`10^{-10}` of the scale
        whatever ``tol``.
    max_iter : int, default=500
        Most ascent iterations per point; points that reach it warn and are
        labelled -1.
    merge_tol : float, default=None
        End points closer than this (scale units) reach the same mode.
        ``None`` means ``max(1e-2, 10 * tol)``. A point is then assigned to
        the nearest mode if its end point is within ``10 * merge_tol``.
    min_cluster_size : int or float, default=0.01
        Clusters with fewer training points than this are merged into a
        neighbouring cluster (see Notes). An int is a number of points (1
        merges nothing). A float :math:`q` in (0, 1) merges clusters of at
        most :math:`\mathrm{round}(q n)` of the :math:`n` training points
        (rounding half to even), which is R's ``ks::kms`` rule: its default
        ``min.clust.size = round(0.01 * n)`` merges clusters of at most that
        many points. The default is ``ks::kms``'s.
    min_prominence : float or None, default=None
        Modes whose prominence is below this are merged, with their cluster,
        into the cluster of the higher mode they join (see ``hierarchy_``).
        The prominence of a mode is :math:`\log f` at the mode minus
        :math:`\log f` at the highest saddle connecting it to a higher mode,
        in nats: 1 means the density at that saddle is :math:`1/e` of its
        value at the mode. ``None`` (or 0) merges nothing: how prominent a
        spurious mode is depends on the kernel's width and on the
        dimension, so no single default suits every density; read
        ``hierarchy_.prominence``, or draw ``hierarchy_.linkage``, to
        choose one.
    scale : float, array-like or None, default=None
        Scale of the tolerances, as in :func:`~skdensity.find_modes`.
    verbose : bool or int, default=False
        Show progress bars of the ascents of ``fit`` (seeds, then every
        point) and ``predict`` on standard error (tqdm when it is installed).

    Attributes
    ----------
    density_ : estimator
        The fitted clone of ``density``.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training point; -1 where its ascent did not converge
        or ended at a saddle or flat point (rare).
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The mode heading each cluster, by decreasing density.
    cluster_log_density_ : ndarray of shape (n_clusters,)
        :math:`\log f` at each mode.
    cluster_hessian_eigenvalues_ : ndarray of shape (n_clusters, n_features)
        Eigenvalues of the Hessian of :math:`\log f` at each mode (all < 0).
    hierarchy_ : ModeHierarchy
        The merge tree of every mode found, before merging: the modes, the
        training points reaching each, for each pair of neighbouring modes
        the saddle where their islands join and its log-density, each mode's
        prominence, and a scipy linkage matrix for
        :func:`scipy.cluster.hierarchy.dendrogram` (see Notes).
    n_merged_clusters_ : int
        Number of modes found whose clusters were merged into another, by
        ``min_prominence`` or ``min_cluster_size``.
    n_iter_ : int
        Largest number of ascent iterations over the training points (each
        stops once next to a mode; see Notes).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    find_modes : The mode finder behind this estimator.
    sklearn.cluster.MeanShift : Flat-kernel mean shift, nearest-centre labels.

    Notes
    -----
    ``fit`` first finds the modes from up to 1 000 evenly spaced training
    points (seeds). Then every point climbs until it comes within
    ``10 * merge_tol`` of a known mode, which labels it (a point that close to
    a mode is in its basin unless the mode is all but flat), or until it
    converges; converged end points away from the known modes are merged and
    classified as further modes or saddles. Most points thus stop after one
    or two steps. Modes are refined to :math:`10^{-10}` of the scale.

    The modes then form a merge tree (``hierarchy_``). Lowering a level
    :math:`c`, the set where :math:`\log f \ge c` grows from islands around
    the modes, which join at saddles; at each join the island with the lower
    top ends, and its top's prominence is its height above that saddle (the
    0-dimensional persistence of the superlevel sets). Candidate paths join
    modes whose basins touch (neighbouring training points, in the scale
    metric, that climbed to different modes) and neighbouring modes; the
    best path between two modes follows the maximum spanning tree of the
    candidates' lowest points, and each tree edge's lowest point is refined
    to the index-1 saddle of :math:`\log f` there (by Newton steps that climb
    along negative and descend along positive curvature), kept only if its
    gradient vanishes, it has one ascending direction, it is not below the
    path, and the ascents from either side of it reach the two modes;
    ``hierarchy_.saddle_refined`` marks where this failed and the path's
    lowest point stands instead. The cost is a few evaluations of the
    density per pair of neighbouring modes.

    Clusters are then merged in two steps. First, each mode with prominence
    below ``min_prominence`` joins the cluster of the higher mode its island
    joins (up the tree). Then the tree's edges are visited from the highest
    saddle down, and an edge joins its two clusters while either has fewer
    than the minimum size: a small cluster joins the neighbour across its
    highest saddle, the neighbour it is densely connected to, where
    ``ks::kms`` merges the smallest cluster into the one with the nearest
    mode. A merged cluster keeps the head of the one with more points. If
    more than half of the training points lie in clusters of fewer points
    than the minimum size (or are alone in their cluster), ``fit`` warns: the
    density is too rough for its modes to be groups of the data.

    ``predict`` climbs the same way towards the fitted modes, so ``labels_``
    equals ``predict(X)`` on the training data; a new point reaching a mode
    no training point reached is labelled -1.

    References
    ----------
    J. E. Chacon and T. Duong, "Data-driven density derivative estimation,
    with applications to nonparametric clustering and bump hunting",
    Electronic Journal of Statistics 7, 2013 (R's ``ks::kms``).

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdensity import ModeClustering
    >>> X, y = make_blobs(300, centers=3, random_state=0)
    >>> clustering = ModeClustering().fit(X)
    >>> clustering.cluster_centers_.shape
    (3, 2)
    >>> bool((clustering.predict(X) == clustering.labels_).all())
    True

    Two of these blobs overlap: the prominence of each mode (its height in
    :math:`\log f` above the saddle joining it to a higher mode; infinite for
    the highest) shows the third mode barely rises above its saddle, and
    ``min_prominence`` merges it.

    >>> clustering.hierarchy_.prominence.round(2)
    array([ inf, 0.44, 0.04])
    >>> merged = ModeClustering(min_prominence=0.1).fit(X)
    >>> merged.cluster_centers_.shape, merged.n_merged_clusters_
    ((2, 2), 1)
    """

    _parameter_constraints = {
        "density": [HasMethods(DENSITY_METHODS), None],
        **ASCENT_CONSTRAINTS,
        "min_cluster_size": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
        ],
        "min_prominence": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        density=None,
        *,
        method="auto",
        tol=1e-3,
        max_iter=500,
        merge_tol=None,
        min_cluster_size=0.01,
        min_prominence=None,
        scale=None,
        verbose=False,
    ):
        self.density = density
        self.method = method
        self.tol = tol
        self.max_iter = max_iter
        self.merge_tol = merge_tol
        self.min_cluster_size = min_cluster_size
        self.min_prominence = min_prominence
        self.scale = scale
        self.verbose = verbose

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the density, find its modes and label the training points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : ModeClustering
            The fitted estimator.
        """
        private = ("_ascent", "_method", "_near_modes", "_mode_to_cluster")
        with discard_fit_on_error(self, private=private):
            return self._fit(X)

    def _fit(self, X):
        X = validate_data(self, X, dtype=np.float64)
        if self.density is None:
            # The one place mode finding names an estimator: the default.
            from .. import GaussianKDE

            density = GaussianKDE()
        else:
            density = clone(self.density)
        missing = missing_methods(density, ["fit", *DENSITY_METHODS])
        if missing:
            raise ValueError(
                f"density must be an estimator with fit, score_samples, gradient "
                f"and hessian (e.g. GaussianKDE()); {type(density).__name__} "
                f"lacks {', '.join(missing)}."
            )
        density.fit(X)
        ascent, X, method = prepare_ascent(
            density, X, method=self.method, scale=self.scale, caller="ModeClustering"
        )
        self._ascent, self._method = ascent, method
        modes, end, n_iter, converged = self._find_modes(X)
        self.density_ = density
        self._set_clusters(X, modes, end, converged)
        self.n_iter_ = int(n_iter.max())
        return self

    def _find_modes(self, X):
        """Modes from the seeds, then every point's climb (see Notes)."""
        ascent, method, merge_tol = self._ascent, self._method, self._merge_tol()
        # 1. The modes reached from an evenly spaced subsample of seeds.
        seeds = X[:: -(-len(X) // _N_SEEDS)]
        with without_feature_names_warning():
            with self._progress(len(seeds), "ascents from seeds") as bar:
                seed_ends = _ascend(
                    ascent,
                    seeds,
                    newton=method == "newton",
                    tol=self.tol,
                    max_iter=self.max_iter,
                    progress=bar,
                )
            known = _summarise(ascent, *seed_ends, merge_tol, method).modes
        # 2. Every point climbs until it is next to a known mode, or converges.
        near_known = _NearModes(known, ascent, self._assign_radius())
        end, n_iter, converged, error = self._climb(ascent, X, method, near_known)
        # 3. End points away from the known modes are new modes (or saddles).
        new = converged & ~near_known(end)
        candidates = np.vstack([known, end[new]])
        modes = _summarise(
            ascent,
            candidates,
            np.zeros(len(candidates), dtype=np.intp),
            np.ones(len(candidates), dtype=bool),
            np.concatenate([np.zeros(len(known)), error[new]]),
            merge_tol,
            method,
        )
        return modes, end, n_iter, converged

    def _merge_tol(self):
        return resolve_merge_tol(self.merge_tol, self.tol)

    def _assign_radius(self):
        return _ASSIGN_FACTOR * self._merge_tol()

    def _progress(self, total, desc):
        return progress_bar(total, desc, enabled=bool(self.verbose))

    def _climb(self, ascent, X, method, stop):
        with without_feature_names_warning(), self._progress(len(X), "ascents") as bar:
            result = _ascend(
                ascent,
                X,
                newton=method == "newton",
                tol=self.tol,
                max_iter=self.max_iter,
                stop=stop,
                progress=bar,
            )
        _warn_not_converged(result[2], self.max_iter)
        return result

    def _set_clusters(self, X, modes, end, converged):
        """The hierarchy, the merged clusters, the map from every mode found
        to its cluster, and the training labels (assigned exactly as
        ``predict`` assigns)."""
        self._near_modes = _NearModes(modes.modes, self._ascent, self._assign_radius())
        mode_of_point = self._near_modes.index(end, converged)
        hierarchy = build_hierarchy(
            self._ascent,
            X,
            mode_of_point,
            modes.modes,
            modes.log_density,
            climb=self._climb_to_mode,
        )
        head = hierarchy.heads(self.min_prominence or None)
        min_size = self._min_cluster_size(len(X))
        self._warn_small_clusters(hierarchy, head, min_size)
        head = merge_small_clusters(hierarchy, head, min_size)
        kept = np.unique(head)  # modes are by decreasing density
        self._mode_to_cluster = np.searchsorted(kept, head)
        self.cluster_centers_ = modes.modes[kept]
        self.cluster_log_density_ = modes.log_density[kept]
        self.cluster_hessian_eigenvalues_ = modes.hessian_eigenvalues[kept]
        self.hierarchy_ = hierarchy
        self.n_merged_clusters_ = len(modes.modes) - len(kept)
        self.labels_ = self._labels(mode_of_point)

    def _min_cluster_size(self, n_samples):
        """Smallest cluster kept, in points (a fraction q keeps more than
        round(q n), as ks::kms)."""
        if isinstance(self.min_cluster_size, Integral):
            return int(self.min_cluster_size)
        return int(np.round(self.min_cluster_size * n_samples)) + 1

    def _warn_small_clusters(self, hierarchy, head, min_size):
        """Warn when most points would sit in tiny clusters before merging."""
        size = np.bincount(head, weights=hierarchy.n_points, minlength=len(head))
        threshold = max(min_size, 2)
        small = (size > 0) & (size < threshold)
        n_small, n_total = int(size[small].sum()), int(size.sum())
        if 2 * n_small <= n_total:
            return
        merged = (
            f"They are merged into neighbouring clusters (min_cluster_size="
            f"{self.min_cluster_size!r})"
            if min_size > 1
            else "They are kept (min_cluster_size=1)"
        )
        warnings.warn(
            f"{n_small} of {n_total} training points are in clusters of fewer "
            f"than {threshold} points ({np.count_nonzero(small)} of "
            f"{len(hierarchy.modes)} modes): the density has a mode near most "
            f"points, so its modes reflect the kernel's width rather than groups "
            f"in the data. {merged}. A wider kernel (a larger bandwidth), or "
            f"merging by prominence (min_prominence; see hierarchy_.prominence), "
            f"gives clusters that do.",
            UserWarning,
            stacklevel=4,
        )

    def _climb_to_mode(self, points):
        """The found mode each point's ascent reaches (index, or -1): the
        check of the saddles, by Newton ascent whatever the method (few
        points, and mean shift crawls where modes are nearly flat)."""
        with without_feature_names_warning():
            end, _, converged, _ = _ascend(
                self._ascent,
                points,
                newton=True,
                tol=self.tol,
                max_iter=self.max_iter,
                stop=self._near_modes,
            )
        return self._near_modes.index(end, converged)

    def _labels(self, mode_of_point):
        labels = np.full(len(mode_of_point), -1, dtype=np.intp)
        hit = mode_of_point >= 0
        labels[hit] = self._mode_to_cluster[mode_of_point[hit]]
        return labels

    def predict(self, X):
        """Label new points by the mode their ascent of log f reaches.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Points to label.

        Returns
        -------
        labels : ndarray of shape (n_queries,)
            Cluster index; -1 where the ascent did not converge, ended at a
            saddle or flat point, or reached a mode no training point reached.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        end, _, converged, _ = self._climb(
            self._ascent, X, self._method, self._near_modes
        )
        return self._labels(self._near_modes.index(end, converged))


class _NearModes:
    """Which mode, if any, lies within ``radius`` (scale units) of a point.

    Called on points, returns the mask of those next to a mode: the stopping
    rule of the ascent, which labels a point once it is that close.
    """

    def __init__(self, modes, ascent, radius):
        self.whiten = ascent.whiten
        self.radius = radius
        self.tree = cKDTree(modes @ self.whiten) if len(modes) else None

    def index(self, X, valid=None):
        """Index of the mode within the radius of each point, else -1."""
        mode = np.full(len(X), -1, dtype=np.intp)
        if self.tree is None or len(X) == 0:
            return mode
        dist, nearest = self.tree.query(X @ self.whiten)
        hit = dist <= self.radius
        if valid is not None:
            hit &= valid
        mode[hit] = nearest[hit]
        return mode

    def __call__(self, X):
        return self.index(X) >= 0
