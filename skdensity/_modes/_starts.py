r"""Where the ascents of :func:`~skdensity.find_modes` start.

An ascent labels its start with the mode of the basin of attraction it lies
in, so a mode is found only if some start lies in its basin. The default
starts (the kernel centres of a KDE, the means of a mixture) lie where the
mass is, but a mode can have a basin holding none of them: three equal
Gaussians at 120 degrees on the unit circle with standard deviation 0.72 have
a fourth mode at the centre, reached from no centre (Carreira-Perpinan and
Williams, 2003). :func:`resolve_starts` also offers two wider searches:

* ``"grid"`` (up to three features): a lattice in the scale metric
  :math:`\|\delta\|_S = (\delta^\top S^{-1} \delta)^{1/2}`, spacing
  :math:`h` (0.25 scale units, coarsened to stay within 10 000 nodes), so that
  every point of the covered region lies within the covering radius
  :math:`\rho = h\sqrt d / 2` of a node. For components that share one
  covariance :math:`S` (a KDE, a tied mixture) the region is every point
  within :math:`\sqrt d + \rho` of a kernel centre or mean, which holds a
  node within :math:`\rho` of every mode, since every mode lies within
  :math:`\sqrt d` of a centre: in coordinates whitened by :math:`S` the
  Hessian of :math:`\log f` is :math:`\mathrm{Cov}_r(m) - I` and the gradient
  :math:`\bar m - y`, so at a mode :math:`y` (responsibilities :math:`r_i`)

  .. math::

      \min_i \|m_i - y\|^2 \le \sum_i r_i \|m_i - y\|^2
          = \operatorname{tr} \mathrm{Cov}_r(m) < d.

  Components with their own covariances admit no such bound (an anisotropic
  mixture can have a mode arbitrarily many scale units from every mean); the
  grid then fills the means' bounding box padded by three scale units.
* ``"sample"`` (any number of features): :math:`n` draws from the density,
  so that a mode whose basin has probability :math:`p` is reached with
  probability :math:`1 - (1 - p)^n`.

References
----------
M. A. Carreira-Perpinan and C. K. I. Williams, "On the number of modes of a
Gaussian mixture", Scale-Space 2003, LNCS 2695, 625-640.
"""

import inspect
import warnings
from math import ceil, sqrt

import numpy as np
from scipy import linalg
from scipy.spatial import cKDTree
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state

from .._core import validate_data

#: Above this many training points a KDE's default starts are a subsample.
_MAX_DEFAULT_STARTS = 10_000
#: X0="grid": spacing (scale units) of the lattice when it fits ...
_GRID_SPACING = 0.25
#: ... in this many nodes; otherwise the spacing grows until it does ...
_MAX_GRID_STARTS = 10_000
#: ... and a warning says so when it grows beyond this (scale units).
_GRID_WARN_SPACING = 1.0
_GRID_MAX_FEATURES = 3
#: Padding (scale units) of the grid's box for components with their own
#: covariances, whose modes have no distance bound.
_GRID_BOX_PAD = 3.0
#: Most candidate nodes examined at once when pruning the lattice.
_MAX_GRID_CANDIDATES = 200_000
#: X0="sample": at least this many draws (more if there are more default starts).
_MIN_SAMPLE_STARTS = 1_000
STRATEGIES = ("grid", "sample")


def resolve_starts(density, X0, *, random_state=None, scale=None):
    r"""The starting points of the ascents, from ``X0`` as the user gave it.

    Parameters
    ----------
    density : fitted estimator
        The density whose modes are sought (see :func:`~skdensity.find_modes`).
    X0 : None, {"grid", "sample"} or array-like of shape (n_starts, n_features)
        ``None``: the default starts, the kernel centres ``X_fit_`` of a KDE
        (a random subsample of 10 000 above that size) or the component means
        ``means_`` of a mixture. ``"grid"``: a lattice covering the data, in
        the scale metric (up to three features). ``"sample"``:
        ``max(1000, number of default starts)`` draws from
        ``density.sample``. An array: validated as the estimators validate
        ``X`` (a DataFrame's columns must be the density's
        ``feature_names_in_``, in order). See the module docstring for what
        each strategy guarantees.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsample of default starts and the draws of ``"sample"``.
    scale : ndarray of shape (n_features, n_features), default=None
        Scale covariance :math:`S` of the grid's metric. ``None``: the
        density's ``scale_covariance()``, or else :math:`I / \lambda` with
        :math:`\lambda` the median over the default starts of the largest
        eigenvalue of :math:`-\nabla^2 \log f`. Used only by ``"grid"``.

    Returns
    -------
    X0 : ndarray of shape (n_starts, n_features)
        The starts, float64; a new array (never the density's own data).

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity import GaussianKDE
    >>> from skdensity._modes._starts import resolve_starts
    >>> kde = GaussianKDE(bandwidth=0.5).fit([[0.0], [1.0]])
    >>> resolve_starts(kde, None).ravel()
    array([0., 1.])
    >>> grid = resolve_starts(kde, "grid")
    >>> float(np.diff(grid.ravel()).max())  # 0.25 scale units of 0.5
    0.125
    >>> resolve_starts(kde, "sample", random_state=0).shape
    (1000, 1)
    """
    if X0 is None:
        return default_starts(density, random_state)
    if isinstance(X0, str):
        if X0 == "grid":
            return grid_starts(density, scale=scale)[0]
        if X0 == "sample":
            return sample_starts(density, random_state)
        raise ValueError(
            f"X0 must be None, one of {STRATEGIES} or an array-like of shape "
            f"(n_starts, n_features); got {X0!r}."
        )
    return check_starts(density, X0)


# ---------------------------------------------------------------------------
# The density's own points
# ---------------------------------------------------------------------------


def _anchors(density):
    """The density's kernel centres or component means, and their kind."""
    if hasattr(density, "X_fit_"):
        return np.asarray(density.X_fit_, dtype=np.float64), "kernel centres X_fit_"
    if hasattr(density, "means_"):
        return np.asarray(density.means_, dtype=np.float64), "component means means_"
    return None, None


def _shares_covariance(density):
    """Whether the components share the covariance ``scale_covariance()``:
    a KDE or a tied mixture offering the mode-finding hook."""
    if not callable(getattr(density, "scale_covariance", None)):
        return False
    if hasattr(density, "X_fit_"):
        return True
    return getattr(density, "covariance_type", None) == "tied"


def default_starts(density, random_state=None):
    """Kernel centres of a KDE (subsampled above 10 000) or means of a mixture."""
    anchors, _ = _anchors(density)
    if anchors is None:
        raise ValueError(
            f"{type(density).__name__} has neither X_fit_ (a KDE) nor means_ (a "
            f"mixture), so there are no default starts; pass X0 (an array of "
            f"starts, or 'sample' if the density has a sample method)."
        )
    if len(anchors) > _MAX_DEFAULT_STARTS:
        rng = check_random_state(random_state)
        keep = rng.choice(len(anchors), _MAX_DEFAULT_STARTS, replace=False)
        return anchors[np.sort(keep)]
    return anchors.copy()


# ---------------------------------------------------------------------------
# X0="grid"
# ---------------------------------------------------------------------------


def _grid_scale(density, anchors):
    """The scale covariance of the grid when the caller gives none."""
    if callable(getattr(density, "scale_covariance", None)):
        return np.asarray(density.scale_covariance(), dtype=np.float64)
    some = anchors[:: -(-len(anchors) // 1000)]
    lam = np.linalg.eigvalsh(-np.asarray(density.hessian(some, log=True)))[:, -1]
    lam = lam[lam > 0]
    if lam.size == 0:
        raise ValueError(
            "X0='grid' needs a length scale, but log f has no negative curvature "
            "at the density's points; pass scale= (a length or a covariance "
            "matrix in the units of X) or an array of starts."
        )
    return np.eye(anchors.shape[1]) / np.median(lam)


def grid_starts(density, *, scale=None):
    r"""The nodes of ``X0="grid"`` and their spacing in scale units.

    Returns
    -------
    nodes : ndarray of shape (n_nodes, n_features)
    spacing : float
        Lattice spacing :math:`h` in scale units; every point of the covered
        region lies within :math:`h \sqrt d / 2` of a node.
    """
    anchors, _ = _anchors(density)
    if anchors is None:
        raise ValueError(
            f"X0='grid' covers the data, but {type(density).__name__} has "
            f"neither X_fit_ (a KDE's kernel centres) nor means_ (a mixture's "
            f"means) to say where they are; pass X0='sample' or an array of "
            f"starts (e.g. a grid of your own)."
        )
    d = anchors.shape[1]
    if d > _GRID_MAX_FEATURES:
        raise ValueError(
            f"X0='grid' is for at most {_GRID_MAX_FEATURES} features (the nodes "
            f"needed grow as (extent / spacing)^d); the density has {d}. Use "
            f"X0='sample' or pass an array of starts."
        )
    S = _grid_scale(density, anchors) if scale is None else np.asarray(scale, float)
    L = linalg.cholesky(S, lower=True)
    centre = anchors.mean(axis=0)
    Z = linalg.solve_triangular(L, (anchors - centre).T, lower=True).T
    if _shares_covariance(density):
        Z_nodes, spacing = _pruned_lattice(Z)
    else:
        Z_nodes, spacing = _box_lattice(Z)
    if spacing > _GRID_WARN_SPACING:
        warnings.warn(
            f"X0='grid': to cover the data within {_MAX_GRID_STARTS} nodes the "
            f"spacing grew from {_GRID_SPACING} to {spacing:.3g} scale units, so "
            f"only modes whose basin holds the "
            f"ball of radius {spacing * sqrt(d) / 2:.3g} around them are sure "
            f"to be found. Pass X0='sample' or a finer grid of your own.",
            UserWarning,
            stacklevel=3,
        )
    return centre + Z_nodes @ L.T, spacing


def _box_lattice(Z):
    """Lattice on the bounding box of ``Z`` padded by ``_GRID_BOX_PAD``."""
    d = Z.shape[1]
    lo, hi = Z.min(axis=0) - _GRID_BOX_PAD, Z.max(axis=0) + _GRID_BOX_PAD
    spacing = _GRID_SPACING
    while True:
        counts = np.ceil((hi - lo) / spacing).astype(np.int64) + 1
        n_nodes = float(np.prod(counts.astype(float)))
        if n_nodes <= _MAX_GRID_STARTS:
            break
        spacing *= max((n_nodes / _MAX_GRID_STARTS) ** (1 / d), 1.001)
    # Centred on the box, so that it overhangs both ends equally.
    axes = [
        (lo_j + hi_j) / 2 + spacing * (np.arange(n) - (n - 1) / 2)
        for lo_j, hi_j, n in zip(lo, hi, counts, strict=True)
    ]
    nodes = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)
    return nodes, spacing


def _pruned_lattice(Z):
    """Lattice nodes within ``sqrt(d) + rho`` of a row of ``Z`` (module docs).

    The rows are binned in cells of ``q`` nodes a side, at least the radius
    wide, so that the nodes near a row lie in its cell or the adjacent ones;
    those nodes are then kept if within the radius (one k-d tree query).
    """
    d = Z.shape[1]
    offsets = np.stack(
        np.meshgrid(*[np.arange(-1, 2)] * d, indexing="ij"), axis=-1
    ).reshape(-1, d)
    tree = cKDTree(Z)
    origin = Z.min(axis=0)
    spacing = _GRID_SPACING
    for _ in range(100):
        radius = sqrt(d) + spacing * sqrt(d) / 2
        q = ceil(radius / spacing)
        cells = np.unique(
            np.floor((Z - origin) / (q * spacing)).astype(np.int64), axis=0
        )
        n_candidates = len(cells) * len(offsets) * q**d
        if n_candidates > _MAX_GRID_CANDIDATES:
            spacing *= max((n_candidates / _MAX_GRID_CANDIDATES) ** (1 / d), 1.001)
            continue
        cells = np.unique((cells[:, None, :] + offsets).reshape(-1, d), axis=0)
        within = np.stack(
            np.meshgrid(*[np.arange(q)] * d, indexing="ij"), axis=-1
        ).reshape(-1, d)
        index = (cells[:, None, :] * q + within).reshape(-1, d)
        nodes = origin + index * spacing
        # A little slack: a node on the sphere's edge must not be lost to rounding.
        dist = tree.query(nodes, distance_upper_bound=radius * (1 + 1e-9))[0]
        nodes = nodes[np.isfinite(dist)]
        if len(nodes) <= _MAX_GRID_STARTS:
            return nodes, spacing
        spacing *= max((len(nodes) / _MAX_GRID_STARTS) ** (1 / d), 1.001)
    raise RuntimeError("X0='grid': no spacing found within the node budget.")


# ---------------------------------------------------------------------------
# X0="sample"
# ---------------------------------------------------------------------------


def _n_default_starts(density):
    anchors, _ = _anchors(density)
    return 0 if anchors is None else min(len(anchors), _MAX_DEFAULT_STARTS)


def _accepts_random_state(method):
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "random_state" or p.kind is inspect.Parameter.VAR_KEYWORD
        for p in parameters
    )


def sample_starts(density, random_state=None):
    """``max(1000, number of default starts)`` draws from ``density.sample``."""
    sample = getattr(density, "sample", None)
    if not callable(sample):
        raise ValueError(
            f"X0='sample' draws the starts from the density, but "
            f"{type(density).__name__} has no sample method; pass X0='grid' or "
            f"an array of starts."
        )
    n = max(_MIN_SAMPLE_STARTS, _n_default_starts(density))
    if _accepts_random_state(sample):
        drawn = sample(n, random_state=random_state)
    else:
        if random_state is not None:
            warnings.warn(
                f"{type(density).__name__}.sample takes no random_state, so the "
                f"draws of X0='sample' are not seeded by random_state.",
                UserWarning,
                stacklevel=3,
            )
        drawn = sample(n)
    if isinstance(drawn, tuple):  # scikit-learn's mixtures return (X, y)
        drawn = drawn[0]
    X = np.asarray(drawn, dtype=np.float64)
    d = getattr(density, "n_features_in_", None)
    if X.ndim != 2 or len(X) != n or (d is not None and X.shape[1] != d):
        expected = f"({n}, {'n_features' if d is None else d})"
        raise ValueError(
            f"X0='sample': {type(density).__name__}.sample({n}) returned an "
            f"array of shape {X.shape}; expected {expected}."
        )
    if not np.isfinite(X).all():
        raise ValueError(
            f"X0='sample': {type(density).__name__}.sample({n}) returned "
            f"non-finite values."
        )
    return X


# ---------------------------------------------------------------------------
# X0 given as an array
# ---------------------------------------------------------------------------


def check_starts(density, X0):
    """Validate the user's starts as the estimators validate ``X``."""
    X = check_array(X0, dtype=np.float64, input_name="X0")
    n_features = getattr(density, "n_features_in_", None)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X0 has {X.shape[1]} features, but the density has {n_features}; "
            f"pass starts in the space the density was fitted on."
        )
    if isinstance(density, BaseEstimator):
        _check_reordered(density, X0)
        # scikit-learn's own check: an error for other names, a warning when
        # only one of X0 and the density has names.
        validate_data(density, X0, reset=False, skip_check_array=True)
    return X


def _check_reordered(density, X0):
    """A clearer error than scikit-learn's for the density's names reordered."""
    fitted = getattr(density, "feature_names_in_", None)
    columns = getattr(X0, "columns", None)
    if fitted is None or columns is None:
        return
    if not all(isinstance(c, str) for c in columns):
        return
    given = [str(c) for c in columns]
    if given != list(fitted) and sorted(given) == sorted(fitted):
        raise ValueError(
            f"X0's columns are the density's features in another order: "
            f"{given} instead of {list(fitted)}. Starts are used by position, "
            f"so reorder them: X0[{list(fitted)}]."
        )
