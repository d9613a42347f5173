r"""Mode finding on any differentiable density: ascent, merging, classification.

:func:`find_modes` climbs :math:`\log f` from many starts at once and reports
the distinct maxima it reaches. It talks to the density only through its
public methods (``score_samples``, ``gradient(X, log=True)``,
``hessian(X, log=True)``), plus, for the fixed-point steps and default starts,
the public fitted attributes of a :class:`~skdensity.GaussianKDE`
(``covariance_``, ``X_fit_``) or of a scikit-learn Gaussian mixture
(``means_``, ``precisions_``, ``covariance_type``, ``predict_proba``).

Distances, tolerances and curvatures are measured in a *scale metric*
:math:`\|\delta\|_S = \sqrt{\delta^\top S^{-1} \delta}`: the kernel covariance
:math:`H` for a KDE, :math:`(\sum_k P_k)^{-1}` for a mixture with precisions
:math:`P_k` (no wider than its narrowest component in any direction), and for
any other density the curvature of :math:`\log f` at the starts, unless the
user passes ``scale``.
"""

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from scipy.spatial import cKDTree
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.utils import check_array, gen_batches

from ._kde import GaussianKDE
from ._utils import check_is_fitted, working_memory_bytes

#: Newton steps longer than this (in scale units) are replaced by the
#: fixed-point step: the quadratic model is not trusted that far.
_TRUST_RADIUS = 2.0
#: A Newton step is kept only if the next Newton step is at most this fraction
#: of it (natural monotonicity test); otherwise the point steps back.
_CONTRACTION = 0.75
#: After a Newton step shorter than this (scale units) the next step reuses
#: its Hessian.
_CHORD_RADIUS = 0.1
#: Tolerance (scale units) to which the modes themselves are refined.
_POLISH_TOL = 1e-10
#: Largest eigenvalue of the scaled Hessian of log f below which a point is a
#: (strict) maximum; above it the point is a saddle or flat point.
_FLAT_TOL = 1e-6
#: Above this many training points a KDE's default starts are a subsample.
_MAX_DEFAULT_STARTS = 10_000
#: Mean-shift is preferred to Newton for KDEs and mixtures above this dimension,
#: where one Hessian costs more than the iterations it saves.
_NEWTON_MAX_FEATURES = 8
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
# Access to the density: derivatives, fixed-point step, scale
# ---------------------------------------------------------------------------


class _Ascent:
    """The density seen through its public methods, in the scale metric.

    ``scale_chol`` is the lower Cholesky factor ``L`` of the scale covariance
    ``S``; ``norm(p) = |L^{-1} p|`` is the length of ``p`` in scale units.
    """

    def __init__(self, density, scale):
        self.density = density
        self.scale = scale
        self.scale_chol = linalg.cholesky(scale, lower=True)
        # Rows p @ whiten = (L^{-1} p)^T: scale units.
        self.whiten = linalg.solve_triangular(
            self.scale_chol, np.eye(len(scale)), lower=True
        ).T
        self.kind = _density_kind(density)
        if self.kind == "mixture":
            self.precisions = _mixture_precisions(density)
            self.precision_means = np.einsum(
                "kij,kj->ki", self.precisions, density.means_
            )

    def norm(self, P):
        Z = P @ self.whiten
        return np.sqrt(np.einsum("ij,ij->i", Z, Z))

    def scaled(self, hess):
        """``L^T hess L``: the Hessian in scale units (eigenvalues comparable)."""
        L = self.scale_chol
        return L.T @ hess @ L

    def log_density(self, X):
        return self.density.score_samples(X)

    def gradient(self, X):
        return self.density.gradient(X, log=True)

    def hessian(self, X):
        return self.density.hessian(X, log=True)

    def fixed_point_step(self, X, grad=None, hess=None):
        """Step of the monotone fixed-point iteration from each row of X."""
        if self.kind == "mixture":
            # Carreira-Perpinan: x <- (sum_k r_k P_k)^-1 sum_k r_k P_k mu_k.
            resp = self.density.predict_proba(X)
            A = np.einsum("mk,kij->mij", resp, self.precisions)
            b = resp @ self.precision_means
            return np.linalg.solve(A, b[:, :, None])[:, :, 0] - X
        if grad is None:
            grad = self.gradient(X)
        if self.kind == "kde":
            # Gaussian mean shift: x + H grad log f(x) = sum_i r_i(x) x_i.
            return grad @ self.density.covariance_
        if hess is None:
            hess = self.hessian(X)
        return self._gradient_step(X, grad, hess)

    def _gradient_step(self, X, grad, hess, c=1e-4, max_halvings=30):
        """Preconditioned gradient step ``alpha S grad`` with backtracking.

        ``alpha`` starts at the maximiser of the quadratic model of log f along
        the step (the Cauchy point), capped so that the step is within the
        trust radius, and is halved until log f rises enough (Armijo) without
        passing the maximum of log f along the step (the gradient at the
        trial point still has a non-negative component along it).
        """
        P = grad @ self.scale
        slope = np.einsum("ij,ij->i", grad, P)
        curvature = -np.einsum("ij,ijk,ik->i", P, hess, P)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(curvature > 0, slope / curvature, np.inf)
            alpha = np.minimum(alpha, _TRUST_RADIUS / self.norm(P))
        alpha[~np.isfinite(alpha)] = 0.0
        log_f0 = self.log_density(X)
        todo = np.flatnonzero(alpha > 0)
        for _ in range(max_halvings):
            if todo.size == 0:
                break
            trial = X[todo] + alpha[todo, None] * P[todo]
            gain = self.log_density(trial) - log_f0[todo]
            ahead = np.einsum("ij,ij->i", self.gradient(trial), P[todo])
            ok = (gain >= c * alpha[todo] * slope[todo]) & (ahead >= 0)
            todo = todo[~ok]
            alpha[todo] *= 0.5
        alpha[todo] = 0.0
        return alpha[:, None] * P

    def newton_step(self, grad, hess, have):
        """Newton step ``(-hess)^{-1} grad`` and where it is usable.

        Usable on rows ``have`` where ``-hess`` is positive definite (checked
        on the scaled Hessian) and the step is within the trust radius.
        """
        step = np.full_like(grad, np.nan)
        ok = have.copy()
        if ok.any():
            lam = np.linalg.eigvalsh(self.scaled(hess[ok]))
            ok[ok] = lam[:, -1] < -_FLAT_TOL
        if ok.any():
            chol = np.linalg.cholesky(-hess[ok])
            y = np.linalg.solve(chol, grad[ok][:, :, None])
            step[ok] = np.linalg.solve(chol.transpose(0, 2, 1), y)[:, :, 0]
            ok[ok] = self.norm(step[ok]) <= _TRUST_RADIUS
        return step, ok


def _density_kind(density):
    if isinstance(density, GaussianKDE):
        return "kde"
    if isinstance(density, GaussianMixture | BayesianGaussianMixture):
        return "mixture"
    return "other"


def _mixture_precisions(mixture):
    """Component precisions of a scikit-learn mixture, shape (K, d, d)."""
    P = np.asarray(mixture.precisions_, dtype=np.float64)
    n_components, d = mixture.means_.shape
    kind = mixture.covariance_type
    if kind == "full":
        return P
    if kind == "tied":
        return np.broadcast_to(P, (n_components, d, d))
    if kind == "diag":
        return P[:, :, None] * np.eye(d)
    return P[:, None, None] * np.eye(d)


def _scale_covariance(density, scale, X0):
    """The scale covariance S: given, or from the density (module docstring)."""
    d = X0.shape[1]
    if scale is not None:
        S = np.asarray(scale, dtype=np.float64)
        if S.ndim == 0:
            S = np.full(d, float(S))
        if S.ndim == 1 and S.shape == (d,) and np.all(S > 0) and np.all(np.isfinite(S)):
            return np.diag(S**2)
        if S.shape == (d, d) and np.allclose(S, S.T) and np.all(np.isfinite(S)):
            try:
                linalg.cholesky(S, lower=True)
                return S
            except linalg.LinAlgError:
                pass
        raise ValueError(
            f"scale must be a positive float (a length), {d} positive per-feature "
            f"lengths, or a ({d}, {d}) symmetric positive definite covariance; "
            f"got an array of shape {S.shape} that is none of these."
        )
    kind = _density_kind(density)
    if kind == "kde":
        return np.asarray(density.covariance_, dtype=np.float64)
    if kind == "mixture":
        return np.linalg.inv(_mixture_precisions(density).sum(axis=0))
    # Median over the starts of the largest curvature of log f.
    lam = np.linalg.eigvalsh(-density.hessian(X0, log=True))[:, -1]
    lam = lam[lam > 0]
    if lam.size == 0:
        raise ValueError(
            "log f has no negative curvature at any start, so no length scale "
            "can be inferred for this density; pass scale= (a length or a "
            "covariance matrix in the units of X)."
        )
    return np.eye(d) / np.median(lam)


# ---------------------------------------------------------------------------
# Ascent, vectorised over starts
# ---------------------------------------------------------------------------


def _ascend(ascent, X0, *, newton, tol, max_iter, stop=None):
    """Climb log f from every row of X0.

    ``stop``, if given, maps points to a boolean mask of those that need climb
    no further (e.g. already next to a known mode); they count as converged.

    Returns
    -------
    end_points, n_iter, converged, error
        ``error`` is the estimated distance (scale units) of each end point to
        its fixed point.
    """
    X = np.array(X0, dtype=np.float64, copy=True)
    m, d = X.shape
    n_iter = np.zeros(m, dtype=np.intp)
    converged = np.zeros(m, dtype=bool)
    error = np.full(m, np.inf)
    if m == 0:
        return X, n_iter, converged, error
    row_bytes = 8 * (8 * d * d + 16 * d + 8)
    chunk = max(1, working_memory_bytes() // row_bytes)
    for rows in gen_batches(m, chunk):
        _ascend_chunk(
            ascent,
            X[rows],
            n_iter[rows],
            converged[rows],
            error[rows],
            newton=newton,
            tol=tol,
            max_iter=max_iter,
            stop=stop,
        )
    return X, n_iter, converged, error


def _ascend_chunk(ascent, X, n_iter, converged, error, *, newton, tol, max_iter, stop):
    """Iterate on one chunk in place; converged rows leave the active set."""
    m = X.shape[0]
    active = np.arange(m)
    if stop is not None:
        converged[:] = stop(X)
        active = active[~converged]
    prev_norm = np.full(m, np.nan)
    state = _NewtonState(X, prev_norm) if newton else None
    for _ in range(max_iter):
        if active.size == 0:
            break
        Xa = X[active]
        if newton:
            step = _newton_iteration(ascent, Xa, active, state)
        else:
            step = ascent.fixed_point_step(Xa)
        Xa += step
        X[active] = Xa
        n_iter[active] += 1
        norm = ascent.norm(step)
        # A posteriori error of a contraction with estimated rate q.
        q = np.clip(norm / prev_norm[active], 0.0, 0.999)
        q = np.where(np.isnan(q), 0.5, q)
        est = norm * q / (1.0 - q)
        error[active] = est
        done = (est <= tol) & (norm <= np.sqrt(tol))
        if stop is not None:
            done |= stop(Xa)
        converged[active[done]] = True
        prev_norm[active] = norm
        active = active[~done]


class _NewtonState:
    """Per-start memory of the Newton iteration: the point before the last
    step, its gradient, whether that step was a Newton step, and the Hessian
    it used."""

    def __init__(self, X, prev_norm):
        m, d = X.shape
        self.back_x = np.empty_like(X)
        self.back_grad = np.empty_like(X)
        self.pending = np.zeros(m, dtype=bool)
        self.hess = np.empty((m, d, d))
        self.prev_norm = prev_norm


def _newton_iteration(ascent, Xa, active, state):
    r"""One safeguarded Newton iteration on the active rows; returns the steps.

    The Hessian is evaluated only where a Newton step can be taken: not where
    the fixed-point step of a KDE or mixture already exceeds the trust radius
    (a KDE's Newton step is never shorter than its mean-shift step, since
    :math:`-L^\top \nabla^2\log f\, L = I - L^{-1} \mathrm{Cov}_r L^{-\top}
    \preceq I`), and not after a Newton step shorter than
    ``_CHORD_RADIUS``, which reuses the previous Hessian (chord step; the
    Hessian barely changes over such a step).
    """
    grad = ascent.gradient(Xa)
    k, d = Xa.shape
    hess = np.zeros((k, d, d))
    reuse = state.pending[active] & (state.prev_norm[active] <= _CHORD_RADIUS)
    fresh = ~reuse
    if ascent.kind != "other":
        fresh &= ascent.norm(grad @ ascent.scale) <= _TRUST_RADIUS
    hess[reuse] = state.hess[active[reuse]]
    if fresh.any():
        hess[fresh] = ascent.hessian(Xa[fresh])
    have = reuse | fresh
    step, use_newton = ascent.newton_step(grad, hess, have)
    # Natural monotonicity test on the previous Newton step.
    norm = ascent.norm(np.where(use_newton[:, None], step, 0.0))
    shrinks = use_newton & (norm <= _CONTRACTION * state.prev_norm[active])
    back = state.pending[active] & ~shrinks
    if back.any():
        Xa[back] = state.back_x[active[back]]
        grad[back] = state.back_grad[active[back]]
        have[back] = use_newton[back] = False
        state.prev_norm[active[back]] = np.nan
    fallback = np.flatnonzero(~use_newton)
    if fallback.size:
        fallback_hess = None
        if ascent.kind == "other":  # its gradient step needs the Hessian
            missing = fallback[~have[fallback]]
            if missing.size:
                hess[missing] = ascent.hessian(Xa[missing])
            fallback_hess = hess[fallback]
        step[fallback] = ascent.fixed_point_step(
            Xa[fallback], grad[fallback], fallback_hess
        )
    state.back_x[active] = Xa
    state.back_grad[active] = grad
    state.pending[active] = use_newton
    state.hess[active[use_newton]] = hess[use_newton]
    return step


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


def _classify(ascent, points):
    """Log-density, Hessian eigenvalues and maximum test at each point."""
    if len(points) == 0:
        d = points.shape[1]
        return np.zeros(0), np.zeros((0, d)), np.zeros(0, dtype=bool)
    hess = ascent.hessian(points)
    eig = np.linalg.eigvalsh(hess)
    is_mode = np.linalg.eigvalsh(ascent.scaled(hess))[:, -1] < -_FLAT_TOL
    return ascent.log_density(points), eig, is_mode


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


def _check_positive(name, value, integer=False):
    kind = Integral if integer else Real
    if not isinstance(value, kind) or isinstance(value, bool) or not value > 0:
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}; got {value!r}.")


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
        Ascent method; see Notes. ``"auto"`` is ``"newton"`` up to 8 features,
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
        covariance of a KDE, :math:`(\sum_k P_k)^{-1}` for a mixture with
        component precisions :math:`P_k`, and for other densities
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
    returns and takes the fixed-point step instead. Near a mode every step is
    a Newton step, so the end game converges quadratically.

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
    _check_positive("tol", tol)
    _check_positive("max_iter", max_iter, integer=True)
    if merge_tol is None:
        merge_tol = max(1e-2, 10 * tol)
    _check_positive("merge_tol", merge_tol)
    ascent, X0, method = prepare_ascent(
        density, X0, method=method, scale=scale, random_state=random_state
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature")
        end, n_iter, converged, error = _ascend(
            ascent, X0, newton=method == "newton", tol=tol, max_iter=max_iter
        )
        _warn_not_converged(converged, max_iter)
        return _summarise(ascent, end, n_iter, converged, error, merge_tol, method)


def _warn_not_converged(converged, max_iter):
    n_bad = int(np.count_nonzero(~converged))
    if n_bad:
        warnings.warn(
            f"{n_bad} of {converged.size} starts did not converge within "
            f"max_iter={max_iter} iterations; their labels are -1 (see "
            f"`converged`). Increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=3,
        )


def _summarise(ascent, end, n_iter, converged, error, merge_tol, method):
    """Merge the converged end points, classify them and label the starts."""
    done = np.flatnonzero(converged)
    group, reps = _merge(end[done], error[done], ascent, merge_tol)
    # Refine one end point per group by Newton steps, then merge again: the
    # modes are accurate whatever tol, and groups split by a loose tol rejoin.
    points, _, _, polish_error = _ascend(
        ascent, end[done][reps], newton=True, tol=_POLISH_TOL, max_iter=50
    )
    regroup, reps = _merge(points, polish_error, ascent, merge_tol)
    group, points = regroup[group], points[reps]
    log_f, eig, is_mode = _classify(ascent, points)
    modes = np.flatnonzero(is_mode)
    modes = modes[np.argsort(-log_f[modes], kind="stable")]
    saddles = np.flatnonzero(~is_mode)
    rank = np.full(len(reps), -1, dtype=np.intp)
    rank[modes] = np.arange(len(modes))
    labels = np.full(len(end), -1, dtype=np.intp)
    labels[done] = rank[group]
    return ModeFindingResult(
        modes=points[modes],
        log_density=log_f[modes],
        hessian_eigenvalues=eig[modes],
        labels=labels,
        n_iter=n_iter,
        converged=converged,
        end_points=end,
        saddle_points=points[saddles],
        saddle_log_density=log_f[saddles],
        saddle_hessian_eigenvalues=eig[saddles],
        method=method,
        scale=ascent.scale,
    )
