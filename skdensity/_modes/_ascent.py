r"""Climbing log f from many starts at once: the steps behind find_modes.

The density is used only through its public methods (``score_samples``,
``gradient(X, log=True)``, ``hessian(X, log=True)``, and
``gradient_and_hessian(X, log=True)`` where it exists), plus the mode-finding
hook of skdensity's Gaussian-mixture estimators: ``fixed_point_step(X)`` (the
Gaussian mean shift, or Carreira-Perpinan's fixed point) and
``scale_covariance()`` (see
:class:`~skdensity._base.GaussianMixtureDerivativesMixin`). A density without
the hook gets a safeguarded gradient ascent.

Distances, tolerances and curvatures are measured in a *scale metric*
:math:`\|\delta\|_S = \sqrt{\delta^\top S^{-1} \delta}`: the density's
``scale_covariance()`` (the kernel covariance :math:`H` for a KDE,
:math:`\sum_k w_k \Sigma_k` for a mixture), and for any other density the
curvature of :math:`\log f` at the starts, unless the user passes ``scale``.
The steps and their safeguards are described in :func:`skdensity.find_modes`.
"""

import threading
import warnings
from contextlib import contextmanager, suppress

import numpy as np
from scipy import linalg

from .._bandwidth import covariance_from_lengths
from .._core import filters_changed, gen_batches, working_memory_bytes

#: Newton steps longer than this (in scale units) are replaced by the
#: fixed-point step: the quadratic model is not trusted that far.
_TRUST_RADIUS = 2.0
#: A Newton step is kept only if the Newton step from where it lands is at
#: most this fraction of it (natural monotonicity test of Deuflhard).
_CONTRACTION = 0.75
#: Newton steps longer than this (scale units) must still ascend at their
#: midpoint: a long step could otherwise cross a valley into another basin.
_MIDPOINT_RADIUS = 0.5
#: Largest local error (scale units) of a fixed-point step as a step of the
#: gradient flow (Euler against Heun); longer-erring steps are halved.
_FLOW_TOL = 0.05
_FLOW_RTOL = 0.25
#: ... and must point within this cosine of the flow's direction: where the
#: Hessian is ill-conditioned a long Newton step can cut across the flow,
#: and a basin boundary, even inside a concave region.
_NEWTON_COSINE = 0.5
#: Newton steps need the scaled Hessian of log f at least this negative
#: definite (largest eigenvalue below minus this); flatter points take the
#: fixed-point step.
_NEWTON_CURVATURE = 1e-12
#: Largest eigenvalue of the scaled Hessian of log f below which a point is a
#: (strict, non-degenerate) maximum.
_FLAT_TOL = 1e-6
#: Steps below this many units in the last place of the coordinates are
#: rounding: an iteration has stopped there whatever ``tol``.
_ULPS = 4.0


# ---------------------------------------------------------------------------
# Access to the density: derivatives, fixed-point step, scale
# ---------------------------------------------------------------------------


#: Fewest rows the ascent hands to a density with the fixed-point hook (an
#: estimator of skdensity) in one call. Those evaluate a call of fewer than
#: 16 queries without padding it to full BLAS tiles, which changes last
#: bits; with at least this many rows a point's values do not depend on how
#: many other points are still moving, so the stop rules, which work at the
#: rounding level, see one function throughout (at tol = 1e-12 a ridge point
#: of Old Faithful otherwise never stopped).
_MIN_ROWS = 16


class _Ascent:
    """The density seen through its public methods, in the scale metric.

    ``scale_chol`` is the lower Cholesky factor ``L`` of the scale covariance
    ``S``; ``norm(p) = |L^{-1} p|`` is the length of ``p`` in scale units.
    """

    def __init__(self, density, scale, caller="find_modes"):
        self.density = density
        self.scale = scale
        # Named in the errors about a user's density: the public entry point.
        self.caller = caller
        self.scale_chol = linalg.cholesky(scale, lower=True)
        # Rows p @ whiten = (L^{-1} p)^T: scale units.
        self.whiten = linalg.solve_triangular(
            self.scale_chol, np.eye(len(scale)), lower=True
        ).T
        self.kind = "hook" if _has_hook(density) else "other"

    def norm(self, P):
        Z = P @ self.whiten
        return np.sqrt(np.einsum("ij,ij->i", Z, Z))

    def resolution(self, X):
        """Length (scale units) of a few units in the last place of each row.

        Steps shorter than this are rounding: no tolerance below it can be
        met, so every stop rule compares with ``max(tol, resolution)``.
        """
        ulp = _ULPS * np.finfo(np.float64).eps * np.abs(X)
        Z = ulp @ np.abs(self.whiten)
        return np.sqrt(np.einsum("ij,ij->i", Z, Z))

    def scaled(self, hess):
        """``L^T hess L``: the Hessian in scale units (eigenvalues comparable)."""
        L = self.scale_chol
        return L.T @ hess @ L

    def scaled_gradient(self, grad):
        """``L^T grad``: the gradient in scale units (the mean-shift step)."""
        return grad @ self.scale_chol

    def _rows(self, X):
        """``X`` with at least ``_MIN_ROWS`` rows for a density with the hook
        (the last row repeated), and how many rows are the caller's."""
        n = len(X)
        if self.kind != "hook" or n == 0 or n >= _MIN_ROWS:
            return X, n
        return np.concatenate([X, np.repeat(X[-1:], _MIN_ROWS - n, axis=0)]), n

    def log_density(self, X):
        X, n = self._rows(X)
        value = self.density.score_samples(X)
        return _checked(value, "score_samples", X, (), caller=self.caller)[:n]

    def gradient(self, X):
        X, n = self._rows(X)
        grad = self.density.gradient(X, log=True)
        return _checked(grad, "gradient", X, X.shape[1:], caller=self.caller)[:n]

    def hessian(self, X):
        X, n = self._rows(X)
        hess = self.density.hessian(X, log=True)
        shape = 2 * X.shape[1:]
        return _checked(hess, "hessian", X, shape, caller=self.caller)[:n]

    def gradient_and_hessian(self, X):
        """Both derivatives of log f: in one evaluation where the density
        offers it (``gradient_and_hessian``), else by two calls."""
        both = getattr(self.density, "gradient_and_hessian", None)
        if not callable(both):
            return self.gradient(X), self.hessian(X)
        X, n = self._rows(X)
        grad, hess = both(X, log=True)
        name = "gradient_and_hessian"
        return (
            _checked(grad, name, X, X.shape[1:], "gradient", self.caller)[:n],
            _checked(hess, name, X, 2 * X.shape[1:], "Hessian", self.caller)[:n],
        )

    def fixed_point_step(self, X, grad=None, hess=None):
        """Step of the monotone fixed-point iteration from each row of X: the
        density's own (its hook), else a safeguarded gradient step."""
        if self.kind == "hook":
            if grad is not None:
                return self.density.fixed_point_step(X, log_gradient=grad)
            X, n = self._rows(X)
            return self.density.fixed_point_step(X)[:n]
        if grad is None:
            grad = self.gradient(X)
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

    def newton_step(self, grad, hess):
        """Newton step ``(-hess)^{-1} grad`` and where it is usable.

        Usable where ``-hess`` is positive definite (the largest eigenvalue
        of the scaled Hessian below ``-_NEWTON_CURVATURE``) and the step is
        within the trust radius.
        """
        step = np.full_like(grad, np.nan)
        ok = np.ones(len(grad), dtype=bool)
        if ok.any():
            lam = np.linalg.eigvalsh(self.scaled(hess))
            ok = lam[:, -1] < -_NEWTON_CURVATURE
        if ok.any():
            chol = np.linalg.cholesky(-hess[ok])
            y = np.linalg.solve(chol, grad[ok][:, :, None])
            step[ok] = np.linalg.solve(chol.transpose(0, 2, 1), y)[:, :, 0]
            ok[ok] = self.norm(step[ok]) <= _TRUST_RADIUS
        return step, ok


def _checked(value, method, X, shape, what=None, caller="find_modes"):
    """``value`` as a float64 array of shape ``(len(X), *shape)``, or a clear
    error naming the density's method and the public function that called it
    (``caller``): a user's density is called here."""
    value = np.asarray(value, dtype=np.float64)
    expected = (len(X), *shape)
    if value.shape != expected:
        part = f"the {what} from " if what else ""
        raise ValueError(
            f"{part}the density's {method}(X, log=True) has shape "
            f"{value.shape} for X of shape {X.shape}; {caller} needs shape "
            f"{expected} (n_points{', n_features' * len(shape)})."
        )
    return value


_quiet_lock = threading.Lock()
_quiet_users = 0
_quiet_filter = None


@contextmanager
def without_feature_names_warning():
    """Silence scikit-learn's warning that points have no feature names.

    The ascents pass arrays to a density that may have been fitted on a
    DataFrame; the starts were checked against its feature names once.
    ``warnings.catch_warnings`` saves and restores the process-wide filter
    list, so ascents in several threads at once left its filter behind for
    good; here one filter is shared by the ascents running at a time,
    counted under a lock, and removed (that very entry) when the last one
    ends.
    """
    global _quiet_users, _quiet_filter
    with _quiet_lock:
        if _quiet_users == 0:
            warnings.filterwarnings("ignore", message="X does not have valid feature")
            _quiet_filter = warnings.filters[0]
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0:
                with suppress(ValueError):  # resetwarnings() may have gone first
                    warnings.filters.remove(_quiet_filter)
                filters_changed()
                _quiet_filter = None


def _has_hook(density):
    """Whether the density offers the mode-finding hook."""
    return callable(getattr(density, "fixed_point_step", None)) and callable(
        getattr(density, "scale_covariance", None)
    )


def _scale_covariance(density, scale, X0, caller="find_modes"):
    """The scale covariance S: given, or from the density (module docstring)."""
    d = X0.shape[1]
    if scale is not None:
        return covariance_from_lengths(scale, d, "scale")
    if _has_hook(density):
        return np.asarray(density.scale_covariance(), dtype=np.float64)
    # Median over the starts of the largest curvature of log f.
    hess = density.hessian(X0, log=True)
    hess = _checked(hess, "hessian", X0, 2 * X0.shape[1:], caller=caller)
    lam = np.linalg.eigvalsh(-hess)[:, -1]
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


def _ascend(ascent, X0, *, newton, tol, max_iter, stop=None, progress=None):
    """Climb log f from every row of X0.

    ``stop``, if given, maps points to a boolean mask of those that need climb
    no further (e.g. already next to a known mode); they count as converged.
    ``progress``, if given, has ``update(n)``, called with the number of rows
    whose ascent ended (a progress bar of :mod:`skdensity._progress`).

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
            progress=progress,
        )
    return X, n_iter, converged, error


def _ascend_chunk(
    ascent, X, n_iter, converged, error, *, newton, tol, max_iter, stop, progress
):
    r"""Iterate on one chunk in place; converged rows leave the active set.

    A row has converged when the a posteriori error estimate of its last
    step, :math:`\|p_t\| q / (1 - q)` with the observed rate
    :math:`q = \|p_t\| / \|p_{t-1}\|`, is at most ``max(tol, resolution)``
    and the step itself at most the square root of that; a rate of 1 or more
    (no contraction) or unknown (the first step, or the first after a
    rejected step) never converges. A step within the resolution of the
    coordinates (a few ulps) ends the iteration too: the point cannot move.
    """
    m = X.shape[0]
    active = np.arange(m)
    if stop is not None:
        converged[:] = stop(X)
        active = active[~converged]
        if progress is not None:
            progress.update(m - active.size)
    state = _StepState(X)
    for _ in range(max_iter):
        if active.size == 0:
            break
        Xa = X[active]
        step = _iteration(ascent, Xa, active, state, newton)
        floor = ascent.resolution(Xa)
        Xa += step
        X[active] = Xa
        n_iter[active] += 1
        norm = ascent.norm(step)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = norm / state.prev_norm[active]
            est = np.where(q < 1.0, norm * q / (1.0 - q), np.inf)
        bound = np.maximum(tol, floor)
        est[norm <= floor] = 0.0
        error[active] = est
        done = (est <= bound) & (norm <= np.sqrt(bound))
        if stop is not None:
            done |= stop(Xa)
        converged[active[done]] = True
        state.prev_norm[active] = norm
        active = active[~done]
        if progress is not None:
            progress.update(int(done.sum()))
    if progress is not None:  # the rows stopped by max_iter ended too
        progress.update(active.size)


class _StepState:
    """Per-start memory of the iteration: the point before the last step
    with its derivatives, what that step was (``_NEWTON`` or ``_FIXED``, to
    be verified where it landed), the step, the fraction ``alpha`` of the
    fixed-point step it took, and the length of the last accepted step."""

    def __init__(self, X):
        m, d = X.shape
        self.back_x = np.empty_like(X)
        self.back_grad = np.empty_like(X)
        self.back_hess = np.empty((m, d, d))
        self.kind = np.zeros(m, dtype=np.int8)
        self.step = np.empty_like(X)
        self.alpha = np.ones(m)
        self.prev_norm = np.full(m, np.nan)


_NEWTON, _FIXED = 1, 2


def _flow_error(before, after, alpha):
    r"""How far a fixed-point step of time ``alpha`` strays from the flow,
    relative to what is allowed.

    ``before`` and ``after`` are the flow's velocity :math:`v = L^\top
    \nabla\log f` (whitened coordinates) where the step starts and lands.
    Euler's and Heun's steps differ by :math:`e = \tfrac{\alpha}{2} \|v_1
    - v_0\|`, the usual estimate of the local error; the step is acceptable
    when :math:`e \le \tau_a + \tau_r \alpha \|v_0\|` (``_FLOW_TOL``,
    ``_FLOW_RTOL``), and this returns the ratio of the two sides (at most 1
    passes). The relative part lets a start far from the data approach it
    in a few geometric steps; the absolute part lets the end game near a
    mode take whole mean-shift steps.
    """
    error = 0.5 * alpha * np.linalg.norm(after - before, axis=1)
    allowed = _FLOW_TOL + _FLOW_RTOL * alpha * np.linalg.norm(before, axis=1)
    return error / allowed


def _iteration(ascent, Xa, active, state, newton):
    r"""One safeguarded iteration on the active rows; returns the steps.

    Every step is verified where it lands, from the derivatives evaluated
    there for the next step, and undone if it fails: the row returns to
    where it was and takes a shorter fixed-point step instead.

    *Fixed-point steps* (mean shift, Carreira-Perpinan's fixed point, the
    safeguarded gradient step) follow the gradient flow :math:`\dot x = S
    \nabla\log f`, whose basins of attraction define the labels. A
    mean-shift step is an Euler step of the flow with time step
    :math:`\alpha = 1`; it cuts corners where the flow bends, which near a
    basin boundary is the way into the neighbouring basin. So a step of time
    :math:`\alpha` is kept only if its local error (Euler against Heun,
    :func:`_flow_error`) is within ``_FLOW_TOL`` scale units plus
    ``_FLOW_RTOL`` of its length, where it lands; otherwise :math:`\alpha`
    is halved. After a kept step :math:`\alpha` doubles again, up to 1: near a
    mode every mean-shift step is kept.

    *Newton steps* (``newton``): from :math:`x`, where
    :math:`-\nabla^2 \log f(x)` is positive definite and :math:`\|p\|_S \le
    2`; a step longer than half a scale unit must also still ascend at its
    midpoint, :math:`\nabla \log f(x + p/2)^\top p > 0`, and head within 60
    degrees of the flow (in scale units: where the Hessian is
    ill-conditioned a long Newton step can cut across the flow, and a basin
    boundary, inside a concave region). It is kept where it
    lands, :math:`y = x + p`, only if :math:`-\nabla^2 \log f(y)` is positive
    definite too and the Newton step from :math:`y` is at most 3/4 of
    :math:`p` (the natural monotonicity test of Deuflhard). A Newton step
    thus never lands where log f is not concave, nor where the quadratic
    model it trusted has stopped contracting.
    """
    need_hess = newton or ascent.kind == "other"
    if need_hess:
        grad, hess = ascent.gradient_and_hessian(Xa)
    else:
        grad, hess = ascent.gradient(Xa), None
    alpha = np.minimum(1.0, 2.0 * state.alpha[active])
    kind = state.kind[active]
    if newton:
        step, use_newton = ascent.newton_step(grad, hess)
        norm = ascent.norm(np.where(use_newton[:, None], step, 0.0))
    else:
        step, use_newton = np.empty_like(grad), np.zeros(len(grad), dtype=bool)
    # Verify the step that brought each row here.
    back = np.zeros(len(grad), dtype=bool)
    if newton:
        was_newton = np.flatnonzero(kind == _NEWTON)
        came = ascent.norm(state.step[active[was_newton]])
        back[was_newton] = ~(
            use_newton[was_newton] & (norm[was_newton] <= _CONTRACTION * came)
        )
    was_fixed = np.flatnonzero(kind == _FIXED)
    if was_fixed.size:
        rows = active[was_fixed]
        flow_error = _flow_error(
            ascent.scaled_gradient(state.back_grad[rows]),
            ascent.scaled_gradient(grad[was_fixed]),
            state.alpha[rows],
        )
        back[was_fixed] = flow_error > 1.0
    if back.any():
        rows = active[back]
        Xa[back] = state.back_x[rows]
        grad[back] = state.back_grad[rows]
        if need_hess:
            hess[back] = state.back_hess[rows]
        use_newton[back] = False
        # A failed fixed-point step is retried at half its length; a failed
        # Newton step gives way to a whole fixed-point step.
        alpha[back] = np.where(kind[back] == _FIXED, 0.5 * state.alpha[rows], 1.0)
        state.prev_norm[rows] = np.nan
    if newton:
        # Long Newton steps must head where the flow heads, and still climb
        # at their midpoint.
        long = np.flatnonzero(use_newton & (norm > _MIDPOINT_RADIUS))
        if long.size:
            velocity = ascent.scaled_gradient(grad[long])
            course = step[long] @ ascent.whiten
            cosine = np.einsum("ij,ij->i", velocity, course) / (
                np.linalg.norm(velocity, axis=1) * np.linalg.norm(course, axis=1)
            )
            use_newton[long[~(cosine >= _NEWTON_COSINE)]] = False
            long = long[cosine >= _NEWTON_COSINE]
        if long.size:
            middle = Xa[long] + 0.5 * step[long]
            ahead = np.einsum("ij,ij->i", ascent.gradient(middle), step[long])
            use_newton[long[~(ahead > 0)]] = False
    fixed = np.flatnonzero(~use_newton)
    if fixed.size:
        full = ascent.fixed_point_step(
            Xa[fixed], grad[fixed], None if hess is None else hess[fixed]
        )
        step[fixed] = alpha[fixed, None] * full
    state.back_x[active] = Xa
    state.back_grad[active] = grad
    if need_hess:
        state.back_hess[active] = hess
    state.kind[active] = np.where(use_newton, _NEWTON, _FIXED)
    state.alpha[active] = np.where(use_newton, 1.0, alpha)
    state.step[active] = step
    return step
