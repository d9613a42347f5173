r"""Subspace-constrained steps onto density ridges: the iteration behind find_ridges.

At a point :math:`x` let :math:`g = \nabla\log f(x)` and let the Hessian of
:math:`\log f` be :math:`\sum_j \lambda_j v_j v_j^\top`, eigenvalues ascending.
For a ridge of dimension :math:`k` the *normal space* is spanned by
:math:`V = [v_1, \dots, v_{d-k}]`, the eigenvectors of the :math:`d - k`
smallest eigenvalues, and the *tangent space* by the others. A point lies on
the ridge when the gradient has no normal component, :math:`V^\top g = 0`,
and the normal eigenvalues are negative (Genovese et al., 2014). Every step
moves a point within its normal space only, :math:`x \leftarrow x + V a`.

The density is reached through :class:`skdensity._modes._ascent._Ascent`
(its public methods and the mode-finding hook); distances are measured in
its scale metric :math:`\|\delta\|_S = (\delta^\top S^{-1}\delta)^{1/2}`.
The step rules and the stopping rule are described in
:func:`skdensity.find_ridges`.
"""

import numpy as np

from .._core import gen_batches, working_memory_bytes
from ._ascent import _TRUST_RADIUS

#: Armijo constant of the line search on log f, and most halvings of a step.
_ARMIJO = 1e-4
_MAX_HALVINGS = 30
#: Changes of log f within this many units in the last place of log f are
#: rounding: the line search cannot tell them from a rise.
_ROUNDING_ULPS = 64.0

SCMS, NEWTON = "scms", "newton"


# ---------------------------------------------------------------------------
# The local frame: normal and tangent spaces
# ---------------------------------------------------------------------------


class _Frame:
    r"""Gradient and Hessian eigen-decomposition of :math:`\log f` at points.

    Attributes
    ----------
    grad : ndarray of shape (m, d)
    eigenvalues : ndarray of shape (m, d)
        Ascending.
    normal : ndarray of shape (m, d, d - k)
        Orthonormal columns spanning the normal space.
    tangent : ndarray of shape (m, d, k)
        Orthonormal columns spanning the tangent space.
    normal_gradient : ndarray of shape (m, d - k)
        :math:`V^\top g`.
    """

    def __init__(self, grad, hess, n_normal):
        self.grad = grad
        self.eigenvalues, vectors = np.linalg.eigh(hess)
        self.normal = vectors[:, :, :n_normal]
        self.tangent = vectors[:, :, n_normal:]
        self.normal_gradient = np.einsum("mdk,md->mk", self.normal, grad)

    @property
    def normal_eigenvalues(self):
        return self.eigenvalues[:, : self.normal.shape[2]]

    def subset(self, rows):
        sub = object.__new__(_Frame)
        for name in ("grad", "eigenvalues", "normal", "tangent", "normal_gradient"):
            setattr(sub, name, getattr(self, name)[rows])
        return sub

    def newton_displacement(self):
        r"""The Newton step within the normal space, :math:`-V
        \Lambda_\perp^{-1} V^\top g`; NaN rows where some normal eigenvalue is
        not negative (no maximum along the normal space to step to)."""
        lam = self.normal_eigenvalues
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = np.where(lam < 0, -self.normal_gradient / lam, np.nan)
        coef[~np.all(lam < 0, axis=1)] = np.nan
        return np.einsum("mdk,mk->md", self.normal, coef)

    def mean_shift_step(self, S_inv):
        r"""The :math:`S^{-1}`-orthogonal projection onto the normal space of
        the mean-shift vector :math:`m = S g`,
        :math:`V (V^\top S^{-1} V)^{-1} V^\top g`. For a KDE with kernel
        covariance :math:`S` it maximises over the normal space the quadratic
        minoriser of :math:`\log f` that the mean shift maximises over all of
        space; with :math:`S = s^2 I` it is :math:`V V^\top m`, the step of
        Ozertem and Erdogmus."""
        V = self.normal
        SV = np.einsum("ij,mjk->mik", S_inv, V)
        gram = np.einsum("mjk,mjl->mkl", V, SV)
        coef = np.linalg.solve(gram, self.normal_gradient[:, :, None])[:, :, 0]
        return np.einsum("mdk,mk->md", V, coef)


# ---------------------------------------------------------------------------
# Stopping rule
# ---------------------------------------------------------------------------


def _on_ridge(ascent, frame, tol):
    r"""Rows that meet the stopping rule of :func:`skdensity.find_ridges`.

    Either the normal component of the gradient is small relative to the
    gradient, :math:`\|V^\top g\| \le \mathrm{tol}\,\|g\|` (Ozertem and
    Erdogmus), or the normal space is concave and the Newton distance to the
    ridge within it, :math:`\|V \Lambda_\perp^{-1} V^\top g\|_S`, is at most
    ``tol`` scale units: along ridges where log f is nearly flat (a circle)
    the gradient itself vanishes on the ridge and the ratio is noise.
    """
    normal = np.linalg.norm(frame.normal_gradient, axis=1)
    whole = np.linalg.norm(frame.grad, axis=1)
    done = normal <= tol * whole
    newton = frame.newton_displacement()
    concave = np.flatnonzero(np.isfinite(newton).all(axis=1))
    done[concave] |= ascent.norm(newton[concave]) <= tol
    return done


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------


class _Stepper:
    """The step rule of one run: ``method`` on one density.

    ``exact_mean_shift`` is true for densities whose components share the
    covariance :math:`S` (a KDE, a tied mixture): their constrained mean-shift
    step needs no line search, as it never lowers log f. Their mean-shift
    vector, the mode-finding hook's ``fixed_point_step``, is :math:`S g`
    with :math:`S` their ``scale_covariance()``, read once.
    """

    def __init__(self, ascent, method, exact_mean_shift):
        self.ascent = ascent
        self.method = method
        self.exact_mean_shift = exact_mean_shift
        self.S_inv = ascent.whiten @ ascent.whiten.T

    def step(self, X, frame, log_f):
        """Steps from the rows of ``X``; ``log_f`` (log f at ``X``) is needed
        only where :attr:`needs_log_density`. Returns the steps, which rows
        were line-searched and, for those whose search succeeded, log f where
        they land (NaN elsewhere)."""
        m = len(X)
        step = np.zeros_like(X)
        searched = np.zeros(m, dtype=bool)
        fixed = np.ones(m, dtype=bool)
        if self.method == NEWTON:
            newton = frame.newton_displacement()
            fixed = ~np.isfinite(newton).all(axis=1)
            step[~fixed] = newton[~fixed]
            searched[~fixed] = True
        if fixed.any():
            sub = frame.subset(fixed)
            step[fixed] = sub.mean_shift_step(self.S_inv)
            if not self.exact_mean_shift:
                step[fixed] *= self._model_maximiser(sub, step[fixed])[:, None]
                searched[fixed] = True
        new_log_f = np.full(m, np.nan)
        if searched.any():
            rows = np.flatnonzero(searched)
            step[rows], new_log_f[rows] = self._line_search(
                X[rows], step[rows], frame.grad[rows], log_f[rows]
            )
        return step, searched, new_log_f

    @property
    def needs_log_density(self):
        return self.method == NEWTON or not self.exact_mean_shift

    def _model_maximiser(self, frame, direction):
        """Multiple of ``direction`` (in the normal space) at which the
        quadratic model of log f peaks, or that reaches the trust radius
        where the model is not concave along it."""
        slope = np.einsum("md,md->m", frame.grad, direction)
        coef = np.einsum("mdk,md->mk", frame.normal, direction)
        curvature = np.einsum("mk,mk->m", frame.normal_eigenvalues, coef**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(
                curvature < 0,
                slope / -curvature,
                _TRUST_RADIUS / self.ascent.norm(direction),
            )
        alpha[~np.isfinite(alpha)] = 0.0
        return alpha

    def _line_search(self, X, step, grad, log_f):
        """Cap each step at the trust radius, then halve it until log f rises
        by the Armijo fraction of the predicted gain, up to the rounding of
        log f (near the ridge the gain is below it); a step that never does
        is zero."""
        ascent = self.ascent
        length = ascent.norm(step)
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = np.where(length > _TRUST_RADIUS, _TRUST_RADIUS / length, 1.0)
        step = step * cap[:, None]
        slope = np.einsum("md,md->m", grad, step)
        new_log_f = np.full(len(X), np.nan)
        todo = np.flatnonzero((slope > 0) & (length > 0))
        step[slope <= 0] = 0.0
        alpha = np.ones(len(X))
        for _ in range(_MAX_HALVINGS):
            if todo.size == 0:
                break
            trial = ascent.log_density(X[todo] + alpha[todo, None] * step[todo])
            noise = _ROUNDING_ULPS * np.finfo(np.float64).eps * np.abs(log_f[todo])
            gain = trial - log_f[todo]
            ok = gain >= _ARMIJO * alpha[todo] * slope[todo] - noise
            new_log_f[todo[ok]] = trial[ok]
            todo = todo[~ok]
            alpha[todo] *= 0.5
        alpha[todo] = 0.0
        return alpha[:, None] * step, new_log_f


# ---------------------------------------------------------------------------
# The iteration, vectorised over points
# ---------------------------------------------------------------------------


class RidgeIteration:
    """End points of the constrained iteration from every start, and the
    local frame at each of them.

    Attributes (after :meth:`run`)
    ------------------------------
    points, n_iter, converged, stalled
        Per start: where it stopped, the steps it took, whether it met the
        stopping rule, whether its line search failed (it could not move).
    eigenvalues : ndarray of shape (n_starts, d)
    tangent : ndarray of shape (n_starts, d, ridge_dim)
        Of the Hessian of log f at each end point.
    """

    def __init__(self, ascent, *, ridge_dim, method, exact_mean_shift, tol, max_iter):
        self.ascent = ascent
        self.ridge_dim = ridge_dim
        self.stepper = _Stepper(ascent, method, exact_mean_shift)
        self.tol = tol
        self.max_iter = max_iter

    def run(self, X0, progress=None):
        X = np.array(X0, dtype=np.float64, copy=True)
        m, d = X.shape
        self.points = X
        self.n_iter = np.zeros(m, dtype=np.intp)
        self.converged = np.zeros(m, dtype=bool)
        self.stalled = np.zeros(m, dtype=bool)
        self.eigenvalues = np.zeros((m, d))
        self.tangent = np.zeros((m, d, self.ridge_dim))
        row_bytes = 8 * (8 * d * d + 16 * d + 8)
        chunk = max(1, working_memory_bytes() // row_bytes)
        for rows in gen_batches(m, chunk):
            self._run_chunk(rows, progress)
        return self

    def _run_chunk(self, rows, progress):
        X = self.points[rows]
        n_normal = X.shape[1] - self.ridge_dim
        active = np.arange(len(X))
        log_f = (
            self.ascent.log_density(X)
            if self.stepper.needs_log_density
            else np.full(len(X), np.nan)
        )
        for iteration in range(self.max_iter + 1):
            Xa = X[active]
            frame = _Frame(*self.ascent.gradient_and_hessian(Xa), n_normal)
            self.eigenvalues[rows][active] = frame.eigenvalues
            self.tangent[rows][active] = frame.tangent
            done = _on_ridge(self.ascent, frame, self.tol)
            target = rows.start + active
            self.converged[target[done]] = True
            if iteration == self.max_iter:
                break
            keep = ~done
            active, Xa = active[keep], Xa[keep]
            if active.size == 0:
                break
            step, searched, new_log_f = self.stepper.step(
                Xa, frame.subset(keep), log_f[active]
            )
            moved = self.ascent.norm(step) > self.ascent.resolution(Xa)
            # A step within rounding cannot move the point: it is on the
            # ridge to the precision of its coordinates, unless its line
            # search failed (then it is stuck).
            failed = searched & np.isnan(new_log_f)
            target = rows.start + active
            self.converged[target[~moved & ~failed]] = True
            self.stalled[target[~moved & failed]] = True
            X[active[moved]] = Xa[moved] + step[moved]
            self.n_iter[target[moved]] += 1
            if self.stepper.needs_log_density:
                log_f[active] = new_log_f
                stale = np.flatnonzero(moved & ~searched)
                if stale.size:
                    log_f[active[stale]] = self.ascent.log_density(X[active[stale]])
            if progress is not None:
                progress.update(int(np.count_nonzero(done)) + int((~moved).sum()))
            active = active[moved]
            if active.size == 0:
                break
        if progress is not None and iteration == self.max_iter:
            progress.update(active.size)
        self.points[rows] = X
