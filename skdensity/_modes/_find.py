r"""Mode finding on any differentiable density: ascent, merging, classification.

:func:`find_modes` climbs :math:`\log f` from many starts at once (the steps
live in ``skdensity._ascent``), merges the end points that reached the
same mode, refines one per group, and tells maxima from saddles and flat
points by the Hessian of :math:`\log f`.
"""

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy.spatial import cKDTree
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array

from .._core import (
    HasMethods,
    Interval,
    StrOptions,
    check_is_fitted,
    validate_params,
)
from ._ascent import _FLAT_TOL, _ascend, _Ascent, _scale_covariance

#: Tolerance (scale units) to which the modes themselves are refined, and the
#: most Newton iterations spent on it (a degenerate maximum converges only
#: linearly).
_POLISH_TOL = 1e-10
_POLISH_MAX_ITER = 100
#: Distance (scale units) of the probes that test a degenerate maximum.
_PROBE = 0.1
#: Above this many training points a KDE's default starts are a subsample.
_MAX_DEFAULT_STARTS = 10_000
#: Mean-shift is preferred to Newton for KDEs and mixtures above this dimension,
#: where one Hessian costs more than the iterations it saves (measured on
#: Scott KDEs of 2 000 points: Newton 2-5x faster in 5-D, slower in 8-D).
_NEWTON_MAX_FEATURES = 5
_METHODS = ("auto", "mean-shift", "newton")


@dataclass
class ModeFindingResult:
    """Result of :func:`find_modes`.

    Attributes
    ----------
    modes : ndarray of shape (n_modes, n_features)
        Distinct local maxima of the density, by decreasing density.
    log_density : ndarray of shape (n_modes,)
        :math:`\\log f` at each mode.
    hessian_eigenvalues : ndarray of shape (n_modes, n_features)
        Eigenvalues (ascending) of the Hessian of :math:`\\log f` at each mode;
        all negative.
    labels : ndarray of shape (n_starts,)
        Index into ``modes`` of the mode each start reached; -1 where the
        ascent did not converge or ended at a saddle or flat point.
    n_iter : ndarray of shape (n_starts,)
        Iterations each start took.
    converged : ndarray of shape (n_starts,)
        Whether each start met the tolerance within ``max_iter``.
    end_points : ndarray of shape (n_starts, n_features)
        Where each ascent stopped.
    saddle_points : ndarray of shape (n_saddles, n_features)
        Distinct converged end points whose Hessian of :math:`\\log f` is not
        negative definite (saddles, minima, flat points); never listed as modes.
    saddle_log_density : ndarray of shape (n_saddles,)
    saddle_hessian_eigenvalues : ndarray of shape (n_saddles, n_features)
    method : str
        The method used (``"auto"`` resolved).
    scale : ndarray of shape (n_features, n_features)
        The scale covariance :math:`S` of the tolerances.
    """

    modes: np.ndarray
    log_density: np.ndarray
    hessian_eigenvalues: np.ndarray
    labels: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    end_points: np.ndarray
    saddle_points: np.ndarray
    saddle_log_density: np.ndarray
    saddle_hessian_eigenvalues: np.ndarray
    method: str
    scale: np.ndarray


# ---------------------------------------------------------------------------
# Merging and classification
# ---------------------------------------------------------------------------


def _merge(points, error, ascent, merge_tol):
    """Group points closer than ``merge_tol`` (scale units) to a representative.

    Representatives are taken greedily, best converged first; the loop runs
    once per group, each pass vectorised over the points.

    Returns
    -------
    group : ndarray of shape (n_points,)
    representatives : ndarray of shape (n_groups,)
        Index of each group's representative point.
    """
    group = np.full(len(points), -1, dtype=np.intp)
    if len(points) == 0:
        return group, np.zeros(0, dtype=np.intp)
    # Points a few ulps apart are one point, whatever merge_tol.
    merge_tol = max(merge_tol, 10 * ascent.resolution(points).max())
    Z = points @ ascent.whiten
    tree = cKDTree(Z)
    todo = np.argsort(error, kind="stable")
    representatives = []
    while todo.size:
        i = todo[0]
        near = np.asarray(tree.query_ball_point(Z[i], merge_tol), dtype=np.intp)
        near = near[group[near] < 0]
        group[near] = len(representatives)
        group[i] = len(representatives)
        representatives.append(i)
        todo = todo[group[todo] < 0]
    return group, np.asarray(representatives, dtype=np.intp)


def _classify(ascent, points, tol):
    r"""Which points are critical, their log-density, Hessian eigenvalues and
    which are maxima.

    A point is critical when both the scaled gradient :math:`\|L^\top
    \nabla\log f\|` and the Newton distance :math:`\|(\Lambda_+)^{-1}
    V^\top L^\top \nabla\log f\|` (eigenvalues :math:`\Lambda` of the
    scaled Hessian :math:`L^\top \nabla^2\log f\, L = V \Lambda
    V^\top`, their magnitudes floored at ``_FLAT_TOL``) are at most
    ``max(tol, resolution)``: a small gradient where the curvature is as
    small (a plateau) is not enough. A critical point is a maximum when the
    largest scaled eigenvalue is below ``-_FLAT_TOL``, or, where the largest
    are within ``_FLAT_TOL`` of zero (a degenerate maximum such as the
    quartic top of two kernels two bandwidths apart), when log f is lower,
    beyond rounding, a tenth of a scale unit away on both sides along each
    of those flat directions.
    """
    n, d = points.shape
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return empty, np.zeros(0), np.zeros((0, d)), empty
    grad, hess = ascent.gradient_and_hessian(points)
    eig = np.linalg.eigvalsh(hess)
    lam, vec = np.linalg.eigh(ascent.scaled(hess))
    scaled_grad = ascent.scaled_gradient(grad)
    along = np.einsum("nji,nj->ni", vec, scaled_grad)
    newton_distance = np.linalg.norm(along / np.maximum(np.abs(lam), _FLAT_TOL), axis=1)
    bound = np.maximum(tol, ascent.resolution(points))
    critical = (np.linalg.norm(scaled_grad, axis=1) <= bound) & (
        newton_distance <= bound
    )
    log_f = ascent.log_density(points)
    is_mode = lam[:, -1] < -_FLAT_TOL
    flat = critical & ~is_mode & (lam[:, -1] <= _FLAT_TOL)
    if flat.any():
        is_mode[flat] = _lower_all_around(ascent, points, log_f, lam, vec, flat)
    return critical, log_f, eig, is_mode


def _lower_all_around(ascent, points, log_f, lam, vec, rows):
    """Whether log f drops, beyond rounding, a tenth of a scale unit away
    along both senses of every flat eigen-direction, at each of ``rows``."""
    rows = np.flatnonzero(rows)
    owner, direction = np.nonzero(np.abs(lam[rows]) <= _FLAT_TOL)
    owner = rows[owner]
    # Eigenvectors of the scaled Hessian, back in the units of X.
    moves = _PROBE * vec[owner, :, direction] @ ascent.scale_chol.T
    probes = np.concatenate([points[owner] + moves, points[owner] - moves])
    drop = log_f[np.tile(owner, 2)] - ascent.log_density(probes)
    noise = 1e3 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(log_f))
    lower = drop > noise[np.tile(owner, 2)]
    result = np.ones(len(points), dtype=bool)
    np.logical_and.at(result, np.tile(owner, 2), lower)
    return result[rows]


# ---------------------------------------------------------------------------
# Public function
# ---------------------------------------------------------------------------


def _check_density(density):
    missing = [
        name
        for name in ("score_samples", "gradient", "hessian")
        if not callable(getattr(density, name, None))
    ]
    if missing:
        raise ValueError(
            f"density must be a fitted object with score_samples, gradient and "
            f"hessian methods (e.g. GaussianKDE); {type(density).__name__} lacks "
            f"{', '.join(missing)}."
        )
    if hasattr(density, "fit") and hasattr(density, "get_params"):
        check_is_fitted(density)


def _default_starts(density, random_state):
    if hasattr(density, "X_fit_"):
        X = np.asarray(density.X_fit_, dtype=np.float64)
        if len(X) > _MAX_DEFAULT_STARTS:
            rng = np.random.default_rng(random_state)
            X = X[np.sort(rng.choice(len(X), _MAX_DEFAULT_STARTS, replace=False))]
        return X
    if hasattr(density, "means_"):
        return np.asarray(density.means_, dtype=np.float64)
    raise ValueError(
        f"{type(density).__name__} has neither X_fit_ (a KDE) nor means_ (a "
        f"mixture), so there are no default starts; pass X0."
    )


def _resolve_method(method, ascent, n_features):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if method != "auto":
        return method
    if ascent.kind == "other" or n_features <= _NEWTON_MAX_FEATURES:
        return "newton"
    return "mean-shift"


#: The parameters find_modes and ModeClustering share, validated by one set
#: of scikit-learn constraints.
DENSITY_METHODS = ["score_samples", "gradient", "hessian"]
ASCENT_CONSTRAINTS = {
    "method": [StrOptions(set(_METHODS))],
    "tol": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "merge_tol": [Interval(Real, 0, None, closed="neither"), None],
    "scale": [Interval(Real, 0, None, closed="neither"), "array-like", None],
}


def prepare_ascent(density, X0=None, *, method="auto", scale=None, random_state=None):
    """Validate inputs; return the ascent helper, the starts and the method."""
    _check_density(density)
    if X0 is None:
        X0 = _default_starts(density, random_state)
    else:
        X0 = check_array(X0, dtype=np.float64, input_name="X0")
    n_features = getattr(density, "n_features_in_", X0.shape[1])
    if X0.shape[1] != n_features:
        raise ValueError(
            f"X0 has {X0.shape[1]} features, but the density has {n_features}; "
            f"pass starts in the space the density was fitted on."
        )
    ascent = _Ascent(density, _scale_covariance(density, scale, X0))
    return ascent, X0, _resolve_method(method, ascent, n_features)


@validate_params(
    {
        "density": [HasMethods(DENSITY_METHODS)],
        "X0": ["array-like", None],
        **ASCENT_CONSTRAINTS,
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def find_modes(
    density,
    X0=None,
    *,
    method="auto",
    tol=1e-5,
    max_iter=500,
    merge_tol=None,
    scale=None,
    random_state=None,
):
    r"""Find the modes of a density by ascending :math:`\log f` from many starts.

    Parameters
    ----------
    density : fitted estimator
        Any object with ``score_samples(X)``, ``gradient(X, log=True)`` and
        ``hessian(X, log=True)``: :class:`~skdensity.GaussianKDE`,
        ``GaussianMixtureGrad``, ``BayesianGaussianMixtureGrad`` or your own.
    X0 : array-like of shape (n_starts, n_features), default=None
        Starting points. By default the kernel centres ``X_fit_`` of a KDE (a
        random subsample of 10 000 above that size) or the component means
        ``means_`` of a mixture; other densities need ``X0``.
    method : {"auto", "mean-shift", "newton"}, default="auto"
        Ascent method; see Notes. ``"auto"`` is ``"newton"`` up to 5 features,
        where a Hessian costs a few gradients and saves many iterations, and
        for densities without a fixed point; ``"mean-shift"`` above.
    tol : float, default=1e-5
        Convergence tolerance: the estimated distance of an end point to the
        mode, in scale units (see ``scale``).
    max_iter : int, default=500
        Most iterations per start; starts that reach it warn
        (:class:`~sklearn.exceptions.ConvergenceWarning`) and get label -1.
    merge_tol : float, default=None
        End points closer than this (in scale units) are the same mode.
        ``None`` means ``max(1e-2, 10 * tol)``.
    scale : float, array-like of shape (n_features,) or (n_features, n_features), \
            default=None
        Scale covariance :math:`S` of the tolerances, in the forms of
        ``GaussianKDE(bandwidth=...)``: a length :math:`s` (:math:`S = s^2 I`),
        per-feature lengths, or a covariance matrix. ``None``: the kernel
        covariance of a KDE, the weight-averaged component covariance
        :math:`\sum_k w_k \Sigma_k` for a mixture, and for other densities
        :math:`I/\lambda` with :math:`\lambda` the median over the starts of the
        largest eigenvalue of :math:`-\nabla^2 \log f`.
    random_state : int, Generator or None, default=None
        Seeds the subsample of default starts of a large KDE.

    Returns
    -------
    result : ModeFindingResult
        Modes by decreasing density, their log-densities and Hessian
        eigenvalues, per-start labels, iterations and convergence flags, and the
        saddle or flat end points, reported apart from the modes.

    Notes
    -----
    Distances are measured as :math:`\|\delta\|_S = (\delta^\top S^{-1}
    \delta)^{1/2}`. A start has converged when the a posteriori error estimate
    :math:`\|p_t\| q / (1 - q)` of its last step :math:`p_t`, with rate
    :math:`q = \|p_t\| / \|p_{t-1}\|`, is at most ``tol`` (and
    :math:`\|p_t\| \le \sqrt{\mathrm{tol}}`). Converged starts leave the active
    set; each iteration is one vectorised call per method over the rest, in
    chunks bounded by scikit-learn's ``working_memory``.

    ``"mean-shift"`` iterates the monotone fixed point of the density:

    - KDE, :math:`f = \sum_i w_i \mathcal N(x_i, H)`: Gaussian mean shift
      :math:`x \leftarrow x + H \nabla\log f(x) = \sum_i r_i(x) x_i`;
    - Gaussian mixture: the precision-weighted fixed point of
      Carreira-Perpinan, :math:`x \leftarrow (\sum_k r_k P_k)^{-1} \sum_k r_k
      P_k \mu_k`, with :math:`r_k` from ``predict_proba``;
    - any other density: gradient ascent :math:`x \leftarrow x + \alpha S
      \nabla\log f`, with :math:`\alpha` halved from the maximiser of the
      quadratic model along the step (using the Hessian; capped so the step
      is at most two scale units long) until
      :math:`\log f` rises by at least :math:`10^{-4} \alpha \nabla\log f^\top
      S \nabla\log f` (Armijo backtracking on ``score_samples``) and the
      step stops short of the maximum along its line (:math:`\nabla\log
      f(x + p)^\top p \ge 0`), so that it cannot leap into another basin.

    ``"newton"`` takes the Newton step :math:`p = -(\nabla^2\log f)^{-1}
    \nabla\log f` (solved by Cholesky) where the Hessian of :math:`\log f` is
    negative definite and :math:`\|p\|_S \le 2` (a trust radius of two
    kernel/component scales); elsewhere it takes the fixed-point step above.
    A Newton step is kept only if the next Newton step is at most 3/4 as
    long (the natural monotonicity test of Deuflhard); otherwise the point
    returns and takes the fixed-point step instead. After a Newton step the
    previous Hessian is tried first and kept if that (chord) step contracts
    by 4 or more and two more such steps would reach ``tol``; otherwise the
    Hessian is re-evaluated. Near a mode every step is thus a Newton or
    chord step: the end game converges quadratically (or nearly), and a
    loose ``tol`` costs about one Hessian per start.

    End points that converged are merged greedily (best converged first)
    within ``merge_tol``. One point per group is then refined by Newton steps
    to :math:`10^{-10}` of the scale and the refined points are merged again,
    so the modes are accurate far beyond ``tol`` (which governs the ascent of
    the starts, hence the labels and the cost). Each refined point is
    classified by the eigenvalues of the Hessian of :math:`\log f` in scale
    units, :math:`L^\top \nabla^2 \log f\, L` with :math:`S = L L^\top`: a
    mode if the largest is below :math:`-10^{-6}`, otherwise a saddle or flat
    point.

    References
    ----------
    M. A. Carreira-Perpinan, "Mode-finding for mixtures of Gaussian
    distributions", IEEE TPAMI 22(11), 2000.

    M. A. Carreira-Perpinan, "Gaussian mean-shift is an EM algorithm",
    IEEE TPAMI 29(5), 2007.

    P. Deuflhard, "Newton Methods for Nonlinear Problems", Springer, 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity import GaussianKDE, find_modes
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (200, 1)), rng.normal(3, 1, (200, 1))])
    >>> result = find_modes(GaussianKDE(bandwidth=0.8).fit(X))
    >>> result.modes.shape
    (2, 1)
    >>> bool(np.all(result.labels >= 0))
    True
    """
    if merge_tol is None:
        merge_tol = max(1e-2, 10 * tol)
    ascent, X0, method = prepare_ascent(
        density, X0, method=method, scale=scale, random_state=random_state
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature")
        end, n_iter, converged, error = _ascend(
            ascent, X0, newton=method == "newton", tol=tol, max_iter=max_iter
        )
        result = _summarise(
            ascent, end, n_iter, converged, error, merge_tol, method, tol
        )
    _warn_not_converged(converged, max_iter, result.converged)
    return result


def _warn_not_converged(converged, max_iter, verified=None):
    """Warn about starts that did not converge: within ``max_iter``
    (``converged`` false), or at a point that is not critical (``verified``
    false, where given)."""
    if verified is None:
        verified = converged
    n_slow = int(np.count_nonzero(~converged))
    n_false = int(np.count_nonzero(converged & ~verified))
    if not (n_slow or n_false):
        return
    parts = []
    if n_slow:
        parts.append(f"{n_slow} did not converge within max_iter={max_iter} iterations")
    if n_false:
        parts.append(
            f"{n_false} stopped where log f is not stationary (a plateau or a "
            f"nearly flat slope)"
        )
    warnings.warn(
        f"Of {converged.size} starts, {' and '.join(parts)}; their labels are "
        f"-1 and `converged` is False. Increase max_iter, or tol if the "
        f"density is that flat.",
        ConvergenceWarning,
        stacklevel=3,
    )


def _summarise(ascent, end, n_iter, converged, error, merge_tol, method, tol=None):
    """Merge the converged end points, refine and classify one per group, and
    label the starts.

    Groups whose refined point is not critical (see :func:`_classify`, at
    ``tol``; ``None`` means ``merge_tol / 10``) are dropped and their starts
    marked not converged.
    """
    if tol is None:
        tol = merge_tol / 10
    done = np.flatnonzero(converged)
    group, reps = _merge(end[done], error[done], ascent, merge_tol)
    # Refine one end point per group by Newton steps, then merge again: the
    # modes are accurate whatever tol, and groups split by a loose tol rejoin.
    points, _, _, polish_error = _ascend(
        ascent,
        end[done][reps],
        newton=True,
        tol=_POLISH_TOL,
        max_iter=_POLISH_MAX_ITER,
    )
    regroup, reps = _merge(points, polish_error, ascent, merge_tol)
    group, points = regroup[group], points[reps]
    critical, log_f, eig, is_mode = _classify(ascent, points, tol)
    modes = np.flatnonzero(critical & is_mode)
    modes = modes[np.argsort(-log_f[modes], kind="stable")]
    saddles = np.flatnonzero(critical & ~is_mode)
    rank = np.full(len(reps), -1, dtype=np.intp)
    rank[modes] = np.arange(len(modes))
    labels = np.full(len(end), -1, dtype=np.intp)
    labels[done] = rank[group]
    verified = np.zeros(len(end), dtype=bool)
    verified[done] = critical[group]
    return ModeFindingResult(
        modes=points[modes],
        log_density=log_f[modes],
        hessian_eigenvalues=eig[modes],
        labels=labels,
        n_iter=n_iter,
        converged=verified,
        end_points=end,
        saddle_points=points[saddles],
        saddle_log_density=log_f[saddles],
        saddle_hessian_eigenvalues=eig[saddles],
        method=method,
        scale=ascent.scale,
    )
