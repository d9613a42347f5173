r"""Density ridges (filaments) by subspace-constrained mean shift.

:func:`find_ridges` moves many points at once onto the ridges of
:math:`\log f` (the iteration lives in ``skdensity._modes._ridge_steps``),
then keeps those that lie where the density is high and where the Hessian
says the point is on a ridge.
"""

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._core import HasMethods, Interval, StrOptions, validate_params
from .._progress import progress_bar
from ._ascent import without_feature_names_warning
from ._find import DENSITY_METHODS, prepare_ascent
from ._ridge_steps import NEWTON, SCMS, RidgeIteration
from ._starts import STRATEGIES, _shares_covariance

_METHODS = (SCMS, NEWTON)


@dataclass
class RidgeResult:
    """Result of :func:`find_ridges`.

    Attributes
    ----------
    points : ndarray of shape (n_points, n_features)
        The ridge points: the end points that converged and passed the
        filters (``kept``), in the order of their starts.
    log_density : ndarray of shape (n_points,)
        :math:`\\log f` at each ridge point.
    hessian_eigenvalues : ndarray of shape (n_points, n_features)
        Eigenvalues (ascending) of the Hessian of :math:`\\log f` at each
        ridge point, in the units of ``X`` (inverse squared lengths). The
        first ``n_features - ridge_dim`` belong to the normal space.
    eigenvalue_gap : ndarray of shape (n_points,)
        Smallest tangent eigenvalue minus the largest normal one,
        ``hessian_eigenvalues[:, d - k] - hessian_eigenvalues[:, d - k - 1]``
        (``d`` features, ``k = ridge_dim``): how sharply the ridge stands out
        from its surroundings. Where it is near zero the normal space is
        ill-defined and the ridge unstable (Genovese et al., 2014).
    directions : ndarray of shape (n_points, ridge_dim, n_features)
        Orthonormal basis of the ridge's tangent space at each point (the
        eigenvectors of the ``ridge_dim`` largest eigenvalues); for a
        filament, ``directions[:, 0]`` is its unit direction (of arbitrary
        sign).
    start_index : ndarray of shape (n_points,)
        The start each ridge point came from (index into ``end_points``).
    end_points : ndarray of shape (n_starts, n_features)
        Where each start stopped, kept or not.
    n_iter : ndarray of shape (n_starts,)
        Steps each start took.
    converged : ndarray of shape (n_starts,)
        Whether each start met the stopping rule within ``max_iter``.
    kept : ndarray of shape (n_starts,)
        Whether each end point is a ridge point: converged, dense enough and
        meeting the eigenvalue condition (Notes of :func:`find_ridges`).
    log_density_threshold : float or None
        The threshold on :math:`\\log f` below which end points were
        dropped; ``None`` if none was applied.
    ridge_dim : int
    method : str
    scale : ndarray of shape (n_features, n_features)
        The scale covariance :math:`S` of the tolerances.
    """

    points: np.ndarray
    log_density: np.ndarray
    hessian_eigenvalues: np.ndarray
    eigenvalue_gap: np.ndarray
    directions: np.ndarray
    start_index: np.ndarray
    end_points: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    kept: np.ndarray
    log_density_threshold: float | None
    ridge_dim: int
    method: str
    scale: np.ndarray


@validate_params(
    {
        "density": [HasMethods(DENSITY_METHODS)],
        "X0": ["array-like", StrOptions(set(STRATEGIES)), None],
        "ridge_dim": [Interval(Integral, 0, None, closed="left")],
        "method": [StrOptions(set(_METHODS))],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "hdr_prob": [Interval(Real, 0, 1, closed="neither"), None],
        "min_log_density": [Real, None],
        "max_normal_eigenvalue": [Real, None],
        "scale": [Interval(Real, 0, None, closed="neither"), "array-like", None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def find_ridges(
    density,
    X0=None,
    *,
    ridge_dim=1,
    method="scms",
    tol=1e-3,
    max_iter=1000,
    hdr_prob=0.99,
    min_log_density=None,
    max_normal_eigenvalue=0.0,
    scale=None,
    random_state=None,
    verbose=False,
):
    r"""Find the ridges of a density by subspace-constrained mean shift.

    A ridge of dimension :math:`k` is where :math:`\log f` is locally highest
    across :math:`d - k` directions and free along the other :math:`k`: for
    :math:`k = 1` the filaments of a point cloud (roads, rivers, galaxy
    filaments, principal curves), for :math:`k = 2` its sheets. Each start
    is moved across the ridge, never along it, until it lies on it.

    Parameters
    ----------
    density : fitted estimator
        Any object with ``score_samples(X)``, ``gradient(X, log=True)`` and
        ``hessian(X, log=True)``: :class:`~skdensity.GaussianKDE`,
        ``GaussianMixtureGrad``, ``BayesianGaussianMixtureGrad`` or your own.
    X0 : {"grid", "sample"} or array-like of shape (n_starts, n_features), \
            default=None
        Where the points start; as in :func:`~skdensity.find_modes`.
        ``None``: the kernel centres ``X_fit_`` of a KDE (above 10 000, a
        random subsample of 10 000 drawn with ``random_state``); for any
        other density, ``"sample"``. ``"grid"`` (at most 3 features) is the
        lattice of :func:`~skdensity.find_modes`, covering the data more
        evenly, as R ks's ``kdr`` starts from a grid. The ridge is sampled
        where the starts are: a stretch of ridge with no start nearby gets
        no points.
    ridge_dim : int, default=1
        Dimension :math:`k` of the ridges, from 1 to ``n_features - 1``
        (:math:`k = 0`, the modes, is :func:`~skdensity.find_modes`).
    method : {"scms", "newton"}, default="scms"
        Step rule; see Notes. ``"scms"`` is subspace-constrained mean shift
        (Ozertem and Erdogmus, 2011); ``"newton"`` takes Newton steps within
        the normal space where it is concave, usually in far fewer
        iterations.
    tol : float, default=1e-3
        Stopping tolerance: on the ratio of the normal to the whole gradient,
        and on the distance to the ridge in scale units (Notes).
    max_iter : int, default=1000
        Most steps per start; starts that reach it warn
        (:class:`~sklearn.exceptions.ConvergenceWarning`) and are dropped.
    hdr_prob : float in (0, 1) or None, default=0.99
        Keep only ridge points inside the highest density region of this
        probability, i.e. where :math:`f \ge c` with :math:`c` from
        ``density.density_level(hdr_prob, random_state=random_state)``
        (R ks's ``kdr`` uses the same 99% contour). Ridges in the tails are
        noise. ``None``, or a density without ``density_level``: no density
        filter (unless ``min_log_density`` is given).
    min_log_density : float, default=None
        Keep only ridge points with :math:`\log f` at least this; overrides
        ``hdr_prob``.
    max_normal_eigenvalue : float or None, default=0.0
        Keep only ridge points whose normal eigenvalues of the Hessian of
        :math:`\log f` are below this (in the inverse squared units of
        ``X``): 0 is the definition of a ridge (Notes), a negative value
        keeps only sharper ridges, ``None`` keeps every converged point.
    scale : float, array-like of shape (n_features,) or (n_features, n_features), \
            default=None
        Scale covariance :math:`S` of the tolerances and the trust radius, as
        in :func:`~skdensity.find_modes` (the kernel covariance of a KDE by
        default).
    random_state : int, RandomState instance or None, default=None
        Seeds the subsample of default starts of a large KDE, the draws of
        ``X0="sample"`` and those of the density level.
    verbose : bool or int, default=False
        Show a progress bar of the points as they reach their ridge (tqdm
        when installed, else lines on standard error).

    Returns
    -------
    result : RidgeResult
        The ridge points with their log-density, Hessian eigenvalues,
        eigenvalue gap and tangent directions; per start, where it stopped,
        its iterations, whether it converged and whether it was kept.

    Raises
    ------
    ValueError
        If ``ridge_dim`` is not between 1 and ``n_features - 1``, if the
        starts do not match the density's features, or if a density other
        than a KDE has neither ``X0`` nor a ``sample`` method.

    Notes
    -----
    Let :math:`g = \nabla\log f(x)` and :math:`\nabla^2\log f(x) = \sum_j
    \lambda_j v_j v_j^\top` with :math:`\lambda_1 \le \dots \le \lambda_d`.
    The normal space is spanned by :math:`V = [v_1, \dots, v_{d-k}]`, the
    tangent space by the rest. A point is on a :math:`k`-dimensional ridge
    when (Eberly, 1996; Genovese et al., 2014)

    .. math::

        V^\top g = 0 \quad\text{and}\quad \lambda_{d-k} < 0,

    that is, :math:`\log f` has a maximum at :math:`x` along the normal
    space. Ridges are defined in the coordinates of ``X``: unlike modes,
    they change under a linear change of coordinates (the eigenvectors do).
    Features in different units should be standardised first (R ks's
    ``kdr`` does so by default, ``pre=TRUE``). Ridges of :math:`\log f` and
    of :math:`f` satisfy the same equation :math:`V^\top g = 0` (at such a
    point :math:`g` is a tangent eigenvector of both Hessians); the
    eigenvalue condition of :math:`\log f` is the stricter one, so every
    ridge point of :math:`\log f` is one of :math:`f`.

    Steps move within the normal space, :math:`x \leftarrow x + V a`:

    - ``"scms"`` for a KDE (or a tied mixture), kernel covariance :math:`S`:
      with the mean-shift vector :math:`m = S g = \sum_i r_i(x) x_i - x`,
      :math:`a = (V^\top S^{-1} V)^{-1} V^\top S^{-1} m`. This maximises over
      the normal space the quadratic minoriser of :math:`\log f` that the
      mean shift maximises over all of space (Carreira-Perpinan, 2007), so
      every step raises :math:`\log f`, and its fixed points are exactly
      the ridge points, for any :math:`S`. For :math:`S = h^2 I` it is
      Ozertem and Erdogmus's step, :math:`x \leftarrow x + V V^\top m`. (The
      step :math:`V V^\top m` with a full :math:`S`, as in R ks's ``kdr``,
      stops where :math:`V^\top S g = 0` instead, off the ridge.)
    - ``"scms"`` for other densities: the same step with :math:`m = S g`
      and :math:`S` the scale covariance, scaled to the maximum of the
      quadratic model of :math:`\log f` along it, then halved until
      :math:`\log f` rises by :math:`10^{-4}` of the predicted gain (Armijo).
    - ``"newton"``: where :math:`\lambda_{d-k} < 0`, the Newton step within
      the normal space, :math:`a = -\Lambda_\perp^{-1} V^\top g` with
      :math:`\Lambda_\perp = \mathrm{diag}(\lambda_1, \dots, \lambda_{d-k})`,
      with the same line search; elsewhere the ``"scms"`` step.

    Line-searched steps are at most two scale units long. A start stops when

    .. math::

        \|V^\top g\| \le \mathrm{tol}\, \|g\| \quad\text{or}\quad
        \|V \Lambda_\perp^{-1} V^\top g\|_S \le \mathrm{tol},

    the first being the criterion of Ozertem and Erdogmus (the gradient
    within an angle :math:`\arcsin(\mathrm{tol})` of the tangent space), the
    second the estimated distance to the ridge along the normal space, in
    scale units :math:`\|\delta\|_S = (\delta^\top S^{-1} \delta)^{1/2}`
    (only where :math:`\lambda_{d-k} < 0`). The second stops points on
    ridges along which :math:`\log f` is nearly flat (a circle, a
    straight filament), where the gradient vanishes on the ridge and the
    ratio is dominated by noise. A start also stops when its step is within
    the rounding of its coordinates. Each iteration is one
    ``gradient_and_hessian`` call and one batched eigen-decomposition over
    the starts still moving, in chunks bounded by scikit-learn's
    ``working_memory``.

    Filters, as in the literature (Genovese et al., 2014; R ks's ``kdr``):
    an end point is kept if it converged, if :math:`\log f` there is at
    least the threshold (``min_log_density``, else the level of the
    ``hdr_prob`` highest density region) and if its largest normal
    eigenvalue :math:`\lambda_{d-k}` is below ``max_normal_eigenvalue``.

    References
    ----------
    U. Ozertem and D. Erdogmus, "Locally defined principal curves and
    surfaces", JMLR 12, 1249-1286, 2011.

    C. R. Genovese, M. Perone-Pacifico, I. Verdinelli and L. Wasserman,
    "Nonparametric ridge estimation", Annals of Statistics 42(4), 2014.

    D. Eberly, "Ridges in Image and Data Analysis", Kluwer, 1996.

    M. A. Carreira-Perpinan, "Gaussian mean-shift is an EM algorithm",
    IEEE TPAMI 29(5), 2007.

    T. Duong, ks: Kernel Smoothing, R package, function ``kdr``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity import GaussianKDE, find_ridges
    >>> rng = np.random.default_rng(0)
    >>> angle = rng.uniform(0, 2 * np.pi, 300)
    >>> X = np.c_[np.cos(angle), np.sin(angle)] + rng.normal(0, 0.05, (300, 2))
    >>> ridges = find_ridges(GaussianKDE(bandwidth=0.15).fit(X))
    >>> radius = np.linalg.norm(ridges.points, axis=1)
    >>> bool(np.all(np.abs(radius - 1) < 0.05))
    True
    """
    n_features = getattr(density, "n_features_in_", None)
    if n_features is not None:
        _check_ridge_dim(ridge_dim, n_features)
    if X0 is None and not hasattr(density, "X_fit_"):
        X0 = "sample"
    ascent, X0, _ = prepare_ascent(
        density,
        X0,
        method="mean-shift",
        scale=scale,
        random_state=random_state,
        caller="find_ridges",
    )
    _check_ridge_dim(ridge_dim, X0.shape[1])
    iteration = RidgeIteration(
        ascent,
        ridge_dim=ridge_dim,
        method=method,
        exact_mean_shift=ascent.kind == "hook" and _shares_covariance(density),
        tol=tol,
        max_iter=max_iter,
    )
    with without_feature_names_warning():
        with progress_bar(len(X0), "ridge points", enabled=bool(verbose)) as bar:
            iteration.run(X0, progress=bar)
        log_f = ascent.log_density(iteration.points)
    threshold = _log_density_threshold(density, hdr_prob, min_log_density, random_state)
    _warn_not_converged(iteration, max_iter)
    return _summarise(
        iteration, log_f, threshold, max_normal_eigenvalue, method, ascent.scale
    )


def _check_ridge_dim(ridge_dim, n_features):
    if ridge_dim == 0:
        raise ValueError(
            "ridge_dim=0 asks for the modes, the ridges of dimension 0; use "
            "find_modes for them."
        )
    if ridge_dim >= n_features:
        raise ValueError(
            f"ridge_dim must be between 1 and n_features - 1 = {n_features - 1}; "
            f"got {ridge_dim}. A ridge needs at least one direction across it"
            + (
                ", so a density of one feature has none (its modes are found by "
                "find_modes)."
                if n_features == 1
                else "."
            )
        )


def _log_density_threshold(density, hdr_prob, min_log_density, random_state):
    """The threshold on log f of the density filter, or None."""
    if min_log_density is not None:
        return float(min_log_density)
    level = getattr(density, "density_level", None)
    if hdr_prob is None or not callable(level):
        return None
    return float(level(hdr_prob, random_state=random_state).log_level)


def _warn_not_converged(iteration, max_iter):
    n_slow = int(np.count_nonzero(~iteration.converged & ~iteration.stalled))
    n_stuck = int(np.count_nonzero(iteration.stalled))
    if not (n_slow or n_stuck):
        return
    parts = []
    if n_slow:
        parts.append(f"{n_slow} did not converge within max_iter={max_iter} steps")
    if n_stuck:
        parts.append(f"{n_stuck} could not raise log f along the normal space")
    warnings.warn(
        f"Of {len(iteration.converged)} starts, {' and '.join(parts)}; they are "
        f"not ridge points (kept is False). Starts far in the tails or where "
        f"the eigenvalue gap vanishes converge slowly; increase max_iter or "
        f"tol, or start closer to the data.",
        ConvergenceWarning,
        stacklevel=4,
    )


def _summarise(iteration, log_f, threshold, max_normal_eigenvalue, method, scale):
    """Apply the filters and gather the result."""
    eig = iteration.eigenvalues
    n_normal = eig.shape[1] - iteration.ridge_dim
    kept = iteration.converged.copy()
    if threshold is not None:
        kept &= log_f >= threshold
    if max_normal_eigenvalue is not None:
        kept &= eig[:, n_normal - 1] < max_normal_eigenvalue
    index = np.flatnonzero(kept)
    return RidgeResult(
        points=iteration.points[index],
        log_density=log_f[index],
        hessian_eigenvalues=eig[index],
        eigenvalue_gap=eig[index, n_normal] - eig[index, n_normal - 1],
        directions=iteration.tangent[index].transpose(0, 2, 1),
        start_index=index,
        end_points=iteration.points,
        n_iter=iteration.n_iter,
        converged=iteration.converged,
        kept=kept,
        log_density_threshold=threshold,
        ridge_dim=iteration.ridge_dim,
        method=method,
        scale=scale,
    )
