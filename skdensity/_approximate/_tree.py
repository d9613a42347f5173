r"""Tree-truncated evaluation of a Gaussian KDE: skip the kernels that cannot matter.

Queries are whitened and grouped into blocks by a grid of cells of side
:math:`a` (whitened units, anchored at the origin, so a query's block does
not depend on the other queries). For a block and a radius :math:`r`, a
k-d tree (:class:`scipy.spatial.cKDTree`) on the whitened centres returns
every centre within :math:`r + a\sqrt d/2` of the cell centre: a superset of
the centres within :math:`r` of each query of the block. The exact core
(:func:`~skdensity._gaussian_mixture_math.log_density_derivatives`) then
evaluates the mixture restricted to that subset for the whole block, with
dense matrix products.

Every centre left out lies farther than :math:`r` from the query, so by the
tail bound below the truncated sum :math:`S \le f`
misses at most :math:`\kappa W_{\mathrm{out}}\, g_k(r)` in :math:`f`,
:math:`\nabla_y f`, :math:`\nabla_y^2 f`. A query is accepted when

.. math::

    \kappa W_{\mathrm{out}} \max_{k\le\mathrm{order}} g_k(r)
        \le \mathrm{rtol}\cdot S,

which guarantees errors at most :math:`\mathrm{rtol}\cdot f` for all three.
The first pass uses a radius :math:`r_0` fitted to the typical density;
queries that fail it are redone with the radius their own :math:`S` requires
(which then passes, since :math:`S` can only grow with :math:`r`), and
queries with no centre nearby, or whose radius would take in most of the
data, are evaluated exactly over all centres. Log-results are therefore
finite and accurate everywhere.

Tail bound
----------
In whitened coordinates each kernel is :math:`\kappa e^{-\|y - m_i\|^2/2}`,
:math:`\kappa = \det U\,(2\pi)^{-d/2}`. A set :math:`S` of kernels whose
centres all lie farther than :math:`r` from :math:`y` (total weight
:math:`W_S`) contributes at most

.. math::

    \sum_{i\in S} w_i \kappa e^{-s_i^2/2} \le \kappa W_S\, e^{-r^2/2},
    \quad
    \Big\|\sum_{i\in S} w_i \kappa e^{-s_i^2/2} (m_i - y)\Big\|
        \le \kappa W_S\, r e^{-r^2/2},
    \quad
    \Big\|\sum_{i\in S} w_i \kappa e^{-s_i^2/2}
        \big((m_i - y)(m_i - y)^\top - I\big)\Big\|_2
        \le \kappa W_S\, (r^2 - 1) e^{-r^2/2}

to :math:`f`, :math:`\nabla_y f` and :math:`\nabla_y^2 f` (spectral norm),
for :math:`r \ge \sqrt 3`, because :math:`s^k e^{-s^2/2}` and
:math:`(s^2 - 1) e^{-s^2/2}` decrease beyond :math:`\sqrt 3`. We write
:math:`\kappa W_S\, g_k(r)` for these bounds, :math:`g_0 = e^{-r^2/2}`,
:math:`g_1 = r e^{-r^2/2}`, :math:`g_2 = (r^2 - 1) e^{-r^2/2}`.
"""

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import logsumexp

from .._core import (
    LOG_2PI,
    effective_n_jobs,
    empty_outputs,
    for_each_row_chunk,
    gen_batches,
    log_density_derivatives,
    restrict_components,
    store_rows,
    working_memory_bytes,
)

#: Queries farther than this from the centre (whitened units) skip the tree.
_FAR = 1e100
#: Smallest truncation radius (whitened units); the tail bounds need r >= sqrt 3.
MIN_RADIUS = 3.0
#: Cell side of the query blocks, as a fraction of r / sqrt(d): the subset
#: ball has radius r (1 + _CELL_FRACTION / 2).
_CELL_FRACTION = 0.5
#: A block whose subset holds more than this fraction of all centres is left
#: to one exact evaluation over all centres, with the other such blocks.
_EXACT_FRACTION = 0.5
#: Queries sampled at fit to size the first-pass radius, and the quantile of
#: their density it aims at.
_N_PROBES, _PROBE_QUANTILE = 256, 0.1


def log_tail_factor(r, order):
    r"""Log of :math:`\max_{k \le \mathrm{order}} g_k(r)`, the tail bound per unit
    weight (see the module docstring); ``r`` may be an array, ``r >= sqrt 3``."""
    r = np.asarray(r, dtype=np.float64)
    log_g = -0.5 * r**2
    if order >= 1:
        log_g = log_g + np.log(np.maximum(r, 1.0))
    if order >= 2:
        # (r^2 - 1) >= r for r >= golden ratio; the max of the three orders.
        log_g = np.maximum(log_g, -0.5 * r**2 + np.log(np.maximum(r**2 - 1, 1.0)))
    return log_g


def radius_for_level(log_level, order, r_min=MIN_RADIUS):
    r"""Smallest ``r >= r_min`` with ``log_tail_factor(r, order) <= log_level``.

    Solves :math:`r^2 = 2(\log p_k(r) - \mathrm{level})` by fixed-point
    iteration (the right side grows like :math:`\log r`, so it converges in a
    few steps) and returns ``inf`` where ``log_level`` is ``-inf``.
    """
    log_level = np.asarray(log_level, dtype=np.float64)
    target = np.where(np.isfinite(log_level), -log_level, 0.0)
    r = np.full(log_level.shape, r_min)
    for _ in range(30):
        log_poly = log_tail_factor(r, order) + 0.5 * r**2
        r = np.sqrt(np.maximum(2.0 * (log_poly + target), r_min**2))
    # A final safety step: the iteration approaches the root from below.
    r = r * (1 + 1e-9) + 1e-9
    return np.where(log_level == -np.inf, np.inf, np.maximum(r, r_min))


class TreeEvaluator:
    """Tree-truncated log-density and derivatives of a shared-precision KDE.

    Parameters
    ----------
    mixture : SharedPrecisionMixture
        The fitted mixture (kernel centres, log-weights summing to one in
        exponent, ``U``): its whitened centres are the tree's points, and it
        evaluates exactly where the tree does not pay.
    rtol : float
        Relative tolerance on :math:`f`, :math:`\\nabla_y f`,
        :math:`\\nabla_y^2 f` (see the module docstring).
    """

    def __init__(self, mixture, rtol):
        self.full_mixture = mixture
        # Indices of the tree are the mixture's own (it groups wide data).
        self.log_weights = mixture.log_weights
        self.prec_chol = prec_chol = mixture.prec_chol
        self.rtol = rtol
        self.center = mixture.center
        self.tree = cKDTree(mixture.global_white_means)
        d = mixture.n_features
        self.log_kappa = float(np.log(np.diag(prec_chol)).sum() - 0.5 * d * LOG_2PI)
        self.log_s0 = self._typical_log_density()

    def _typical_log_density(self):
        """A low quantile of log f at data points, lower-bounded by the weight
        of the centres within unit distance; sizes the first-pass radius."""
        n = self.log_weights.size
        probe = np.linspace(0, n - 1, min(n, _N_PROBES)).astype(np.intp)
        neighbours = self.tree.query_ball_point(self.tree.data[probe], 1.0)
        # In logs: relative weights may underflow (a kernel weighted 1e-600
        # of the total still counts near itself).
        log_mass = np.array([logsumexp(self.log_weights[idx]) for idx in neighbours])
        return self.log_kappa - 0.5 + np.quantile(log_mass, _PROBE_QUANTILE)

    def radius(self, log_density, order):
        """Radius whose tail bound is ``rtol`` times ``exp(log_density)``."""
        level = np.log(self.rtol) + log_density - self.log_kappa
        return radius_for_level(level, order)

    def evaluate(self, X, order, n_jobs=None):
        """Log f and its derivatives at ``X`` (validated, float64), within rtol.

        Returns ``(log_f, grad_log_f, hess_log_f)`` as
        :func:`~skdensity._gaussian_mixture_math.log_density_derivatives`.
        """
        m, d = X.shape
        outputs = empty_outputs(m, d, order)

        r0 = float(self.radius(self.log_s0, order))
        # Queries beyond _FAR bandwidths have no centre nearby (and would
        # overflow the tree's distances): exact evaluation.
        with np.errstate(over="ignore", invalid="ignore"):
            Y = (X - self.center) @ self.prec_chol
            near = np.abs(Y).max(axis=1, initial=0.0) < _FAR
        rows = np.flatnonzero(near)
        ok, log_s, exact = self._pass(
            X, rows, np.full(rows.size, r0), order, outputs, n_jobs
        )
        retry = np.flatnonzero(~ok & ~exact)  # positions in rows
        if retry.size:
            radii = np.ceil(self.radius(log_s[retry], order))
            finite = np.isfinite(radii)
            exact[retry[~finite]] = True
            retry = retry[finite]
            ok2, _, exact2 = self._pass(
                X, rows[retry], radii[finite], order, outputs, n_jobs
            )
            exact[retry[~ok2 | exact2]] = True
        exact_rows = np.sort(np.concatenate([np.flatnonzero(~near), rows[exact]]))
        # In chunks: one call over all of them would hold a second set of
        # outputs (m x d x d for Hessians) beyond working_memory.
        step = max(1, working_memory_bytes() // (16 * (1 + d + d * d)))
        for s in range(0, exact_rows.size, step):
            rows = exact_rows[s : s + step]
            store_rows(outputs, rows, self._exact(X[rows], order, n_jobs))
        return outputs

    def _exact(self, X, order, n_jobs=None):
        return log_density_derivatives(X, self.full_mixture, order, n_jobs=n_jobs)

    def _pass(self, X, rows, radii, order, outputs, n_jobs):
        """Evaluate ``X[rows]`` truncated at per-row ``radii`` and store the
        accepted rows in ``outputs``. Returns, over ``rows``: accepted mask,
        log S, and the mask of rows left for exact evaluation."""
        ok = np.zeros(rows.size, dtype=bool)
        exact = np.zeros(rows.size, dtype=bool)
        log_s = np.full(rows.size, -np.inf)
        if rows.size == 0:
            return ok, log_s, exact
        blocks = self._blocks(X[rows], radii)
        results = _map_blocks(lambda b: self._block(X, rows, b, order), blocks, n_jobs)
        for (members, *_), (accept, lf, res) in zip(blocks, results, strict=True):
            if accept is None:
                exact[members] = True
                continue
            log_s[members] = lf
            ok[members] = accept
            if res is not None:
                kept = tuple(None if r is None else r[accept] for r in res)
                store_rows(outputs, rows[members[accept]], kept)
        return ok, log_s, exact

    def _blocks(self, X, radii):
        """Group rows by (radius, cell of side a); returns a list of
        ``(member indices, cell centre, search radius)``."""
        d = X.shape[1]
        Y = (X - self.center) @ self.prec_chol
        blocks = []
        for r in np.unique(radii):
            sel = np.flatnonzero(radii == r)
            side = _CELL_FRACTION * r / np.sqrt(d)
            # Floats, not int64: queries may lie beyond 2**63 cells away.
            cells = np.floor(Y[sel] / side)
            _, first, inverse = np.unique(
                cells, axis=0, return_index=True, return_inverse=True
            )
            order = np.argsort(inverse.ravel(), kind="stable")
            bounds = np.cumsum(np.bincount(inverse.ravel()))[:-1]
            search = r + 0.5 * side * np.sqrt(d)
            for k, members in enumerate(np.split(sel[order], bounds)):
                blocks.append((members, (cells[first[k]] + 0.5) * side, search, r))
        return blocks

    def _block(self, X, rows, block, order):
        members, centre, search, r = block
        Xb = X[rows[members]]
        idx = np.asarray(self.tree.query_ball_point(centre, search), dtype=np.intp)
        n = self.log_weights.size
        if idx.size > _EXACT_FRACTION * n:
            return None, None, None
        if idx.size == 0:
            return (
                np.zeros(members.size, dtype=bool),
                np.full(members.size, -np.inf),
                None,
            )
        sub = restrict_components(self.full_mixture, idx)
        res = log_density_derivatives(Xb, sub, order)
        # Weight left out, plus round-off slack on the weights' unit sum.
        w_out = max(0.0, -np.expm1(logsumexp(self.log_weights[idx]))) + 1e-14
        log_bound = self.log_kappa + np.log(w_out) + log_tail_factor(r, order)
        accept = log_bound <= np.log(self.rtol) + res[0]
        return accept, res[0], res


def _map_blocks(func, blocks, n_jobs):
    """``[func(b) for b in blocks]``, batches of blocks in the core's parallel
    map when ``n_jobs`` asks (threads, or the joblib backend in force)."""
    n_workers = effective_n_jobs(n_jobs)
    if n_workers == 1 or len(blocks) < 2:
        return [func(b) for b in blocks]
    size = max(1, -(-len(blocks) // (4 * n_workers)))
    results = [None] * len(blocks)

    def store(s, values):
        results[s] = values

    for_each_row_chunk(
        lambda idx: [func(blocks[i]) for i in idx],
        np.arange(len(blocks)),
        list(gen_batches(len(blocks), size)),
        store,
        n_jobs=n_jobs,
    )
    return results
