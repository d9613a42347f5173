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

from .._bandwidth import covariance_from_lengths
from .._core import (
    HasMethods,
    Interval,
    StrOptions,
    check_is_fitted,
    validate_params,
)
from .._progress import progress_bar
from ._ascent import (
    _FLAT_TOL,
    _ascend,
    _Ascent,
    _scale_covariance,
    without_feature_names_warning,
)
from ._starts import STRATEGIES, resolve_starts

#: Tolerance (scale units) to which the modes themselves are refined, and the
#: most Newton iterations spent on it (a degenerate maximum converges only
#: linearly).
_POLISH_TOL = 1e-10
_POLISH_MAX_ITER = 100
#: Distance (scale units) of the probes that test a degenerate maximum.
_PROBE = 0.1
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
        negative, or all but zero at a degenerate maximum (see Notes of
        :func:`find_modes`).
    labels : ndarray of shape (n_starts,)
        Index into ``modes`` of the mode each start reached; -1 where the
        ascent did not converge or ended at a saddle or flat point.
    n_iter : ndarray of shape (n_starts,)
        Iterations each start took.
    converged : ndarray of shape (n_starts,)
        Whether each start met the tolerance within ``max_iter`` at a point
        verified to be critical (see Notes of :func:`find_modes`).
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


def missing_methods(density, names):
    """Those of ``names`` that ``density`` has no method of."""
    return [name for name in names if not callable(getattr(density, name, None))]


def _check_density(density):
    missing = missing_methods(density, DENSITY_METHODS)
    if missing:
        raise ValueError(
            f"density must be a fitted object with score_samples, gradient and "
            f"hessian methods (e.g. GaussianKDE); {type(density).__name__} lacks "
            f"{', '.join(missing)}."
        )
    if hasattr(density, "fit") and hasattr(density, "get_params"):
        check_is_fitted(density)


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
    "verbose": ["verbose"],
}


def resolve_merge_tol(merge_tol, tol):
    """``merge_tol``, or its default ``max(1e-2, 10 * tol)`` when None."""
    return max(1e-2, 10 * tol) if merge_tol is None else merge_tol


def prepare_ascent(
    density,
    X0=None,
    *,
    method="auto",
    scale=None,
    random_state=None,
    caller="find_modes",
):
    """Validate inputs; return the ascent helper, the starts and the method.

    ``caller``, the public function or class at work, is named in the errors
    about a density whose methods return arrays of the wrong shape.
    """
    _check_density(density)
    grid_scale = None
    if scale is not None and isinstance(X0, str) and X0 == "grid":
        n_features = getattr(density, "n_features_in_", None)
        if n_features is not None:
            grid_scale = covariance_from_lengths(scale, n_features, "scale")
    X0 = resolve_starts(density, X0, random_state=random_state, scale=grid_scale)
    n_features = getattr(density, "n_features_in_", X0.shape[1])
    if X0.shape[1] != n_features:
        raise ValueError(
            f"X0 has {X0.shape[1]} features, but the density has {n_features}; "
            f"pass starts in the space the density was fitted on."
        )
    scale = _scale_covariance(density, scale, X0, caller)
    ascent = _Ascent(density, scale, caller)
    return ascent, X0, _resolve_method(method, ascent, n_features)


@validate_params(
    {
        "density": [HasMethods(DENSITY_METHODS)],
        "X0": ["array-like", StrOptions(set(STRATEGIES)), None],
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
    verbose=False,
):
    r"""Find the modes of a density by ascending :math:`\log f` from many starts.

    Parameters
    ----------
    density : fitted estimator
        Any object with ``score_samples(X)``, ``gradient(X, log=True)`` and
        ``hessian(X, log=True)``: :class:`~skdensity.GaussianKDE`,
        ``GaussianMixtureGrad``, ``BayesianGaussianMixtureGrad`` or your own.
    X0 : {"grid", "sample"} or array-like of shape (n_starts, n_features), \
            default=None
        Where the ascents start. Each start is labelled with the mode of the
        basin of attraction it lies in, so a mode is found only if some start
        lies in its basin.

        - ``None``: the kernel centres ``X_fit_`` of a KDE (above 10 000, a
          random subsample of 10 000 drawn with ``random_state``) or the
          component means ``means_`` of a mixture; other densities need
          ``X0``. A mode whose basin holds no centre (no mean) is missed: the
          centre mode of three equal Gaussians at the corners of an
          equilateral triangle, for one (Carreira-Perpinan and Williams, 2003).
        - ``"grid"`` (at most 3 features): the nodes of a lattice of spacing
          :math:`h = 0.25` scale units (see ``scale``) that lie within
          :math:`\sqrt d + \rho` of a kernel centre, where
          :math:`\rho = h \sqrt d / 2` is the distance within which every point
          has a node. Every mode of a KDE or a tied mixture lies within
          :math:`\sqrt d` scale units of a centre (Notes), so every mode whose
          basin contains the ball of radius :math:`\rho` around it is found.
          For mixtures whose components have their own covariances no such
          bound exists: the lattice fills the means' bounding box padded by 3
          scale units, and the guarantee holds for the modes inside it. To
          keep at most 10 000 nodes the spacing grows (and :math:`\rho` with
          it), with a warning beyond one scale unit.
        - ``"sample"`` (any number of features): ``n = max(1000, number of
          default starts)`` draws from ``density.sample(n,
          random_state=random_state)``. A mode whose basin has probability
          :math:`p` is found with probability :math:`1 - (1 - p)^n` (99.3% for
          :math:`p = 0.5\%` and :math:`n = 1000`); modes of little mass can be
          missed.
        - An array: the starts, validated like the estimators' ``X``: the
          density's number of features and, for a density fitted on a
          DataFrame, its column names in the same order (reordered columns are
          an error, never used by position).
    method : {"auto", "mean-shift", "newton"}, default="auto"
        Ascent method; see Notes. ``"auto"`` is ``"newton"`` up to 5 features,
        where a Hessian costs a few gradients and saves many iterations, and
        for densities without a fixed point; ``"mean-shift"`` above.
    tol : float, default=1e-5
        Convergence tolerance, in scale units (see ``scale``): the estimated
        distance of an end point to its critical point, and the bound on the
        scaled gradient and the Newton distance of every mode and saddle
        reported (Notes). Below the resolution of the coordinates (a few
        units in the last place, in scale units) that resolution is used
        instead.
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
    random_state : int, RandomState instance or None, default=None
        Seeds the subsample of default starts of a large KDE and the draws of
        ``X0="sample"``.
    verbose : bool or int, default=False
        Show a progress bar of the ascents on standard error (tqdm when it is
        installed, in a notebook too; lines with counts otherwise).

    Returns
    -------
    result : ModeFindingResult
        Modes by decreasing density, their log-densities and Hessian
        eigenvalues, per-start labels, iterations and convergence flags, and the
        saddle or flat end points, reported apart from the modes.

    Notes
    -----
    Distances are measured as :math:`\|\delta\|_S = (\delta^\top S^{-1}
    \delta)^{1/2}`. Let :math:`\epsilon = \max(\mathrm{tol}, r(x))`, where
    :math:`r(x)` is the length in scale units of four units in the last place
    of the coordinates of :math:`x`: no step below it is representable. A
    start has converged when the a posteriori error estimate :math:`\|p_t\|
    q / (1 - q)` of its last step :math:`p_t`, with the observed rate
    :math:`q = \|p_t\| / \|p_{t-1}\|`, is at most :math:`\epsilon` (and
    :math:`\|p_t\| \le \sqrt\epsilon`); without a rate below 1 (the first
    step, no contraction) it has not, unless the step itself is below
    :math:`r(x)`. Converged starts leave the active set; each iteration is
    one vectorised call per method over the rest, in chunks bounded by
    scikit-learn's ``working_memory``.

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
    No accepted Newton step leaves the basin it starts in, as far as local
    tests can tell: a step longer than half a scale unit must still climb at
    its midpoint (:math:`\nabla\log f(x + p/2)^\top p > 0`), and where it
    lands the Hessian must be negative definite again and the next Newton
    step at most 3/4 as long (the natural monotonicity test of Deuflhard);
    otherwise the point returns and takes the fixed-point step instead.
    Each iteration evaluates the gradient and the Hessian together
    (``gradient_and_hessian``); near a mode every step is a Newton step and
    the end game converges quadratically.

    End points that converged are merged greedily (best converged first)
    within ``merge_tol``. One point per group is then refined by Newton steps
    to :math:`10^{-10}` of the scale (at most 100 of them) and the refined
    points are merged again, so the modes are accurate far beyond ``tol``
    (which governs the ascent of the starts, hence the labels and the cost).
    Each refined point :math:`x` is verified with the eigen-decomposition
    :math:`V \Lambda V^\top` of the Hessian of :math:`\log f` in scale units,
    :math:`L^\top \nabla^2 \log f\, L` with :math:`S = L L^\top`, and the
    scaled gradient :math:`g = L^\top \nabla\log f`: it is a critical point
    if :math:`\|g\| \le \epsilon` and the Newton distance
    :math:`\|(\max(|\Lambda|, 10^{-6}))^{-1} V^\top g\| \le \epsilon`, so that a
    small gradient on a nearly flat slope (a plateau) is not taken for
    stationarity. Starts whose point fails are reported as not converged
    (label -1, ``converged`` false, with a warning), never as modes or
    saddles. A critical point is a mode if the largest eigenvalue is below
    :math:`-10^{-6}`; where the largest are within :math:`10^{-6}` of zero
    (a degenerate maximum, such as the quartic top of two unit kernels two
    bandwidths apart), it is a mode if :math:`\log f` is lower, beyond
    rounding, a tenth of a scale unit away on both sides along each such
    direction. Every other critical point is a saddle or flat point.

    Where the modes of a KDE lie. With the kernel covariance
    :math:`H = L L^\top` and whitened coordinates :math:`y = L^{-1} x`,
    :math:`m_i = L^{-1} x_i`, the gradient of :math:`\log f` is
    :math:`L^{-\top} (\bar m - y)` and its Hessian
    :math:`L^{-\top} (\mathrm{Cov}_r(m) - I) L^{-1}`, with mean and
    covariance under the responsibilities :math:`r_i(x)`. At a mode the two
    give :math:`\min_i \|m_i - y\|^2 \le \sum_i r_i \|m_i - y\|^2 =
    \operatorname{tr} \mathrm{Cov}_r(m) < d`: every mode lies within
    :math:`\sqrt d` kernel scales of a data point (of a mean, for a tied
    mixture), which is where ``X0="grid"`` puts its nodes.

    References
    ----------
    M. A. Carreira-Perpinan, "Mode-finding for mixtures of Gaussian
    distributions", IEEE TPAMI 22(11), 2000.

    M. A. Carreira-Perpinan, "Gaussian mean-shift is an EM algorithm",
    IEEE TPAMI 29(5), 2007.

    M. A. Carreira-Perpinan and C. K. I. Williams, "On the number of modes of
    a Gaussian mixture", Scale-Space 2003, LNCS 2695, 625-640.

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
    merge_tol = resolve_merge_tol(merge_tol, tol)
    ascent, X0, method = prepare_ascent(
        density, X0, method=method, scale=scale, random_state=random_state
    )
    with without_feature_names_warning():
        with progress_bar(len(X0), "ascents", enabled=bool(verbose)) as bar:
            end, n_iter, converged, error = _ascend(
                ascent,
                X0,
                newton=method == "newton",
                tol=tol,
                max_iter=max_iter,
                progress=bar,
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
