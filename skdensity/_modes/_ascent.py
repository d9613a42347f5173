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

import numpy as np
from scipy import linalg

from .._bandwidth import covariance_from_lengths
from .._core import gen_batches, working_memory_bytes

#: Newton steps longer than this (in scale units) are replaced by the
#: fixed-point step: the quadratic model is not trusted that far.
_TRUST_RADIUS = 2.0
#: A Newton step is kept only if the next Newton step is at most this fraction
#: of it (natural monotonicity test); otherwise the point steps back.
_CONTRACTION = 0.75
#: A step with the previous Newton step's Hessian (chord step) is kept if it
#: is at most this fraction of that step and two more such steps reach tol.
_CHORD_CONTRACTION = 0.25
#: Largest eigenvalue of the scaled Hessian of log f below which a point is a
#: (strict) maximum; above it the point is a saddle or flat point.
_FLAT_TOL = 1e-6


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
        self.kind = "hook" if _has_hook(density) else "other"

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

    def gradient_and_hessian(self, X):
        """Both derivatives of log f: in one evaluation where the density
        offers it (``gradient_and_hessian``), else by two calls."""
        both = getattr(self.density, "gradient_and_hessian", None)
        if callable(both):
            return both(X, log=True)
        return self.gradient(X), self.hessian(X)

    def fixed_point_step(self, X, grad=None, hess=None):
        """Step of the monotone fixed-point iteration from each row of X: the
        density's own (its hook), else a safeguarded gradient step."""
        if self.kind == "hook":
            return self.density.fixed_point_step(X, log_gradient=grad)
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


def _has_hook(density):
    """Whether the density offers the mode-finding hook."""
    return callable(getattr(density, "fixed_point_step", None)) and callable(
        getattr(density, "scale_covariance", None)
    )


def _scale_covariance(density, scale, X0):
    """The scale covariance S: given, or from the density (module docstring)."""
    d = X0.shape[1]
    if scale is not None:
        return covariance_from_lengths(scale, d, "scale")
    if _has_hook(density):
        return np.asarray(density.scale_covariance(), dtype=np.float64)
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
            step = _newton_iteration(ascent, Xa, active, state, tol)
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


def _newton_iteration(ascent, Xa, active, state, tol):
    r"""One safeguarded Newton iteration on the active rows; returns the steps.

    Rows without a Hessian to reuse get the gradient and the Hessian from one
    evaluation (``gradient_and_hessian``, which costs little more than the
    gradient alone), but the Hessian is used only where it is needed. Not
    where the fixed-point step of a KDE or mixture already exceeds the trust
    radius: a KDE's Newton step is never shorter than its mean-shift step,
    since :math:`-L^\top \nabla^2\log f\, L = I - L^{-1} \mathrm{Cov}_r
    L^{-\top} \preceq I`. And not after a Newton step whose Hessian still serves: the
    step with the previous Hessian (chord step) is kept if it contracts by
    ``_CHORD_CONTRACTION`` and two more steps at that rate would reach
    ``tol``; elsewhere a fresh Hessian gives a true Newton step. With a loose
    ``tol`` most points need one Hessian; a tight one keeps the quadratic end
    game.
    """
    k, d = Xa.shape
    grad = np.empty((k, d))
    hess = np.zeros((k, d, d))
    prev_norm = state.prev_norm[active]
    reuse = state.pending[active]
    fresh = ~reuse
    # Rows without a Hessian to reuse get gradient and Hessian from one
    # evaluation (the Hessian's pass yields the gradient).
    if fresh.any():
        grad[fresh], hess[fresh] = ascent.gradient_and_hessian(Xa[fresh])
    if reuse.any():
        grad[reuse] = ascent.gradient(Xa[reuse])
    computed = fresh.copy()
    if ascent.kind != "other":
        fresh &= ascent.norm(grad @ ascent.scale) <= _TRUST_RADIUS
    hess[reuse] = state.hess[active[reuse]]
    have = reuse | fresh
    step, use_newton = ascent.newton_step(grad, hess, have)
    norm = ascent.norm(np.where(use_newton[:, None], step, 0.0))
    # A chord step (previous Hessian) gets a fresh Hessian unless it contracts
    # well and two more steps at its rate would reach tol.
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = norm / prev_norm
    good = use_newton & (rate <= _CHORD_CONTRACTION) & (norm * rate**2 <= tol)
    poor = reuse & ~good
    if poor.any():
        hess[poor] = ascent.hessian(Xa[poor])
        step[poor], use_newton[poor] = ascent.newton_step(
            grad[poor], hess[poor], np.ones(np.count_nonzero(poor), dtype=bool)
        )
        norm = ascent.norm(np.where(use_newton[:, None], step, 0.0))
    # Natural monotonicity test on the previous Newton step.
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
            missing = fallback[~(have | computed)[fallback]]
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
