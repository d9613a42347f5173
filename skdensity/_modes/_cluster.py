"""Mode clustering: each point belongs to the mode its ascent of log f reaches."""

import warnings
from numbers import Integral

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
from ._ascent import _ascend
from ._find import (
    ASCENT_CONSTRAINTS,
    DENSITY_METHODS,
    _summarise,
    _warn_not_converged,
    prepare_ascent,
)

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
    min_cluster_size : int, default=1
        Clusters with fewer training points are merged into the cluster of
        the nearest remaining mode (in the scale metric), as ``min.clust.size``
        of R's ``ks::kms``.
    scale : float, array-like or None, default=None
        Scale of the tolerances, as in :func:`~skdensity.find_modes`.

    Attributes
    ----------
    density_ : estimator
        The fitted clone of ``density``.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training point; -1 where its ascent did not converge
        or ended at a saddle or flat point (rare).
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The modes, by decreasing density.
    cluster_log_density_ : ndarray of shape (n_clusters,)
        :math:`\log f` at each mode.
    cluster_hessian_eigenvalues_ : ndarray of shape (n_clusters, n_features)
        Eigenvalues of the Hessian of :math:`\log f` at each mode (all < 0).
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
    or two steps. Every mode the training points reach is a cluster centre
    (before ``min_cluster_size``); modes are refined to :math:`10^{-10}` of
    the scale. ``predict`` climbs the same way towards the fitted modes, so
    ``labels_`` equals ``predict(X)`` on the training data; a new point
    reaching a mode no training point reached is labelled -1.

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
    """

    _parameter_constraints = {
        "density": [HasMethods(DENSITY_METHODS), None],
        **ASCENT_CONSTRAINTS,
        "min_cluster_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        density=None,
        *,
        method="auto",
        tol=1e-3,
        max_iter=500,
        merge_tol=None,
        min_cluster_size=1,
        scale=None,
    ):
        self.density = density
        self.method = method
        self.tol = tol
        self.max_iter = max_iter
        self.merge_tol = merge_tol
        self.min_cluster_size = min_cluster_size
        self.scale = scale

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
        with discard_fit_on_error(self, private=("_ascent", "_method", "_near_modes")):
            return self._fit(X)

    def _fit(self, X):
        X = validate_data(self, X, dtype=np.float64)
        if self.density is None:
            # The one place mode finding names an estimator: the default.
            from .. import GaussianKDE

            density = GaussianKDE()
        else:
            density = clone(self.density)
        missing = [
            name
            for name in ("fit", "score_samples", "gradient", "hessian")
            if not callable(getattr(density, name, None))
        ]
        if missing:
            raise ValueError(
                f"density must be an estimator with fit, score_samples, gradient "
                f"and hessian (e.g. GaussianKDE()); {type(density).__name__} "
                f"lacks {', '.join(missing)}."
            )
        density.fit(X)
        ascent, X, method = prepare_ascent(
            density, X, method=self.method, scale=self.scale
        )
        self._ascent, self._method = ascent, method
        modes, end, n_iter, converged = self._find_modes(X)
        self.density_ = density
        self._set_clusters(modes, end, converged)
        self.n_iter_ = int(n_iter.max())
        return self

    def _find_modes(self, X):
        """Modes from the seeds, then every point's climb (see Notes)."""
        ascent, method, merge_tol = self._ascent, self._method, self._merge_tol()
        # 1. The modes reached from an evenly spaced subsample of seeds.
        seeds = X[:: -(-len(X) // _N_SEEDS)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature")
            seed_ends = _ascend(
                ascent,
                seeds,
                newton=method == "newton",
                tol=self.tol,
                max_iter=self.max_iter,
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
        return max(1e-2, 10 * self.tol) if self.merge_tol is None else self.merge_tol

    def _assign_radius(self):
        return _ASSIGN_FACTOR * self._merge_tol()

    def _climb(self, ascent, X, method, stop):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature")
            result = _ascend(
                ascent,
                X,
                newton=method == "newton",
                tol=self.tol,
                max_iter=self.max_iter,
                stop=stop,
            )
        _warn_not_converged(result[2], self.max_iter)
        return result

    def _set_clusters(self, modes, end, converged):
        """Cluster centres, the map from every mode found to its cluster, and
        the training labels (assigned exactly as ``predict`` assigns)."""
        self._near_modes = _NearModes(modes.modes, self._ascent, self._assign_radius())
        mode_of_point = self._near_modes.index(end, converged)
        counts = np.bincount(
            mode_of_point[mode_of_point >= 0], minlength=len(modes.modes)
        )
        keep = counts >= self.min_cluster_size
        if len(keep) and not keep.any():
            keep[np.argmax(counts)] = True
        kept = np.flatnonzero(keep)  # already by decreasing density
        cluster = np.full(len(keep), -1, dtype=np.intp)
        cluster[kept] = np.arange(len(kept))
        dropped = np.flatnonzero(~keep)
        if dropped.size:
            Z = modes.modes @ self._ascent.whiten
            _, nearest = cKDTree(Z[kept]).query(Z[dropped])
            cluster[dropped] = nearest
        self._mode_to_cluster = cluster
        self.cluster_centers_ = modes.modes[kept]
        self.cluster_log_density_ = modes.log_density[kept]
        self.cluster_hessian_eigenvalues_ = modes.hessian_eigenvalues[kept]
        self.labels_ = self._labels(mode_of_point)

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
