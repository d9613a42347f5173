r"""Grouped shared-precision path: data spanning many bandwidths.

The components are sorted into spatial groups (:func:`make_mixture`), each
evaluated in a frame of its own; see :mod:`skdensity._core` for the
formulas and :func:`grouped_task` for the frames and the joining of moments.
"""

import numpy as np

from . import _shared
from ._blocks import ROW_ALIGN, empty_outputs, serial_matmul
from ._representation import GROUP_DIAMETER
from ._shared import (
    block_moments,
    exp_in_place,
    hessians_from_moments,
    moment_matrix,
    moment_rows,
    n_moments,
)

#: Terms below exp(_NEGLIGIBLE) times the sum cannot change it.
_NEGLIGIBLE = -92.0

#: Floats of one chunk of query-to-group offsets.
_OFFSET_FLOATS = 2**15

#: Most terms of one block (1 MiB): the block is written by one product,
#: exponentiated in place and read by the moment product while it stays in
#: a core's L2 cache. Blocks of 4 MiB (the shared path's) ran 1.3x slower
#: here, measured on a 2 MiB L2.
_BLOCK_CELLS = 2**17

#: Relative rounding allowed for a squared distance ``|(x - o_g) U|^2``
#: computed from the exact offset (a few roundings of a sum of d squares).
_DIST2_ROUNDING = 8 * np.finfo(float).eps


def grouped_task(X, mix, order, plan):
    r"""Log f and its derivatives for a chunk of queries, grouped components.

    For data spanning many bandwidths the single frame of
    :func:`shared_task` would lose precision like ``eps`` times the squared
    distance from the centre. Here every group :math:`g` of components has a
    frame of its own, centred on its first member :math:`o_g`, and each
    query is whitened in that frame from its exact input-space offset,
    :math:`y_g = (x - o_g) U`.

    **Reference and shift.** Each query has a reference group :math:`h`, the
    one whose origin term :math:`a_{o_g} - \tfrac12 |y_g|^2` is largest
    (the origin is a member, so this is a term of the sum: a lower bound
    :math:`L` of its largest term). Exponents are taken relative to
    :math:`-\tfrac12 |y_h|^2 + s` with the shift :math:`s = a_{o_h}`:
    the term of component :math:`k` of group :math:`g` is
    :math:`\exp(y_g \cdot m_k + b_k + c_g)` with the logit offset
    :math:`b_k = a_k - \tfrac12 |m_k|^2` and

    .. math::

        c_g = -y_h \cdot D - \tfrac12 |D|^2 - s, \qquad D = (o_h - o_g) U,

    since :math:`|y_g|^2 - |y_h|^2 = 2 y_h \cdot D + |D|^2` (no
    cancellation). The origin of :math:`h` has :math:`m = 0`,
    :math:`b = a_{o_h}`, :math:`c_h = -s`: its term is exactly 1, so every
    sum is at least 1 and never underflows, and exponents raised to
    ``_MIN_EXPONENT`` before ``exp`` (rows where a bound says some may be
    slow, :func:`exp_in_place`) change no result by more than ``exp(-600)``
    of its scale. The shift is fixed before any product, so the rows
    ``[y_g, 1, c_g]`` against the columns ``[m_k; b_k; 1]`` write the final
    exponents in one matrix product, exactly as in :func:`shared_task`. A
    block sum above ``_OVERFLOW`` (a term more than ``e^460`` times the best
    origin's, which happens only for queries more than about 20 bandwidths
    from the data) is redone with its own maximum as the shift, rescaling
    what the query has accumulated.

    **Skipping.** Members lie within ``group_radius`` :math:`\rho_g` of
    their origin, so every term of group :math:`g` is at most
    :math:`\max_{k \in g} a_k - \tfrac12 \max(|y_g| - \rho_g, 0)^2`. A
    group whose bound is below :math:`L + ` ``_NEGLIGIBLE`` (less a rounding
    allowance of the squared distances) is skipped for that query: each of
    its terms is below :math:`e^{-92}` of the sum. The decisions, the frames
    and the order of the groups (their index order) are per query, so a
    query's result does not depend on the other queries of its chunk.

    **Work.** Group by group, the queries that need the group are gathered
    (padded to full BLAS tiles) and evaluated against its columns in
    cache-sized blocks: one product, one ``exp``, one moment product per
    block, whatever the number of queries; a small group costs a few calls
    for the whole chunk, not a few per block of rows.

    **Joining.** Within a group the moments are plain sums in the group's
    frame (members within ``GROUP_DIAMETER`` bandwidths of its origin). The
    groups are joined by the pairwise update of Chan, Golub and LeVeque
    (1979): per query its weight, the mean offset of the components from the
    query and their centred second moments, so the covariance is never a
    difference of large numbers (:func:`_chan_update`).
    """
    m, d = X.shape
    m_pad = -(-m // ROW_ALIGN) * ROW_ALIGN
    # Padding rows repeat the last query (full tiles for the distances);
    # they need no group.
    Xp = np.empty((m_pad, d))
    Xp[:m] = X
    Xp[m:] = X[-1] if m else 0.0
    ref, need = _reference_groups(Xp, mix, m)
    U = mix.prec_chol
    Yh = serial_matmul(Xp - mix.origins[ref], U, np.empty((m_pad, d)))
    shift = mix.log_weights[mix.group_starts[ref]]
    acc = _Accumulator(m_pad, d, order)
    cells = min(_BLOCK_CELLS, plan.row_block * plan.col_block)
    for g in np.flatnonzero(need.any(axis=1)):
        rows = np.flatnonzero(need[g])
        S, Yg = _group_moments(
            Xp, Yh, ref, shift, rows, g, mix, order, acc, plan.col_block, cells
        )
        acc.join(rows, S, Yg)
    return _grouped_finish(acc, Yh, shift, mix, order, m)


def spatial_order(X, mixture):
    """An order of the queries that keeps neighbours together: by the group
    cell each falls in (the cells of :func:`make_mixture`'s grouping), so
    consecutive rows (a chunk of work) lie near the same groups."""
    d = X.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        white = serial_matmul(X - mixture.center, mixture.prec_chol, np.empty(X.shape))
        cells = np.floor(white * (np.sqrt(d) / GROUP_DIAMETER))
    cells = np.nan_to_num(cells, nan=0.0, posinf=np.finfo(float).max)
    return np.lexsort(cells.T[::-1])


def _reference_groups(X, mix, m):
    """Reference group of every query and which groups each needs.

    Distances ``|(x - o_g) U|^2`` come from exact input-space offsets (they
    must not round like the global frame would, eps times the squared
    extent of the data), in chunks of rows so that the ``(rows, G, d)``
    offsets stay within ``_OFFSET_FLOATS`` (256 KiB).

    Returns
    -------
    ref : ndarray of shape (len(X),)
        Index of the group with the largest origin term.
    need : ndarray of shape (G, len(X)), bool
        Whether query ``i`` needs group ``g`` (rows from ``m`` on: never).
    """
    n, d = X.shape
    G = mix.n_groups
    starts = mix.group_starts[:-1]
    origin_logw = mix.log_weights[starts]
    max_logw = np.maximum.reduceat(mix.log_weights, starts)
    reach = mix.group_radius * (1 + 1e-12)
    ref = np.zeros(n, dtype=np.intp)
    need = np.zeros((G, n), dtype=bool)
    # Chunks of whole tiles of rows: rows x G offsets are whitened at once.
    step = _OFFSET_FLOATS // max(1, G * d)
    step = max(ROW_ALIGN, step - step % ROW_ALIGN)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float range
        for r0 in range(0, m, step):
            r1 = min(n, r0 + step)
            offsets = (X[r0:r1, None, :] - mix.origins[None, :, :]).reshape(-1, d)
            white = serial_matmul(offsets, mix.prec_chol, np.empty_like(offsets))
            dist2 = np.einsum("ij,ij->i", white, white).reshape(r1 - r0, G)
            del offsets, white
            term = np.multiply(dist2, -0.5)
            term += origin_logw
            h = np.argmax(term, axis=1)
            rows = np.arange(r1 - r0)
            # L + _NEGLIGIBLE, less the rounding of both squared distances.
            low_h = term[rows, h] + _NEGLIGIBLE
            low_h -= _DIST2_ROUNDING * dist2[rows, h]
            low = np.multiply(dist2, -_DIST2_ROUNDING, out=term)
            low += low_h[:, None]
            # The bound of each group, in place of the distances.
            bound = np.sqrt(dist2, out=dist2)
            bound -= reach
            np.maximum(bound, 0.0, out=bound)
            bound *= bound
            bound *= -0.5
            bound += max_logw
            np.greater_equal(bound, low, out=need[:, r0:r1].T)
            ref[r0:r1] = h
    need[:, m:] = False
    return ref, need


def _group_moments(X, Yh, ref, shift, rows, g, mix, order, acc, cb, cells):
    """Moments ``[S0, S1, triu S2]`` of group ``g`` for the queries ``rows``,
    in the group's frame, and the queries' whitened positions there.

    Rows are gathered and padded to full tiles (repeating the last), then
    evaluated in blocks of at most ``cells`` terms and ``cb`` columns. A
    row whose block sum overflows is redone (:func:`_redo_rows`), which
    raises its ``shift`` and rescales ``acc``.
    """
    n = rows.size
    d = X.shape[1]
    U = mix.prec_chol
    q = n_moments(d, order)
    idx = np.empty(-(-n // ROW_ALIGN) * ROW_ALIGN, dtype=np.intp)
    idx[:n] = rows
    idx[n:] = rows[-1]
    o = mix.origins[g]
    lhs = np.empty((idx.size, d + 2))
    Yg = serial_matmul(X[idx] - o, U, np.empty((idx.size, d)))
    D = serial_matmul(mix.origins[ref[idx]] - o, U, np.empty((idx.size, d)))
    lhs[:, :d] = Yg
    lhs[:, d] = 1.0
    c = lhs[:, d + 1]
    np.einsum("ij,ij->i", Yh[idx], D, out=c)
    c += 0.5 * np.einsum("ij,ij->i", D, D)
    c += shift[idx]
    np.negative(c, out=c)
    # Rows whose exponents may fall where exp is slow (see _slow_rows):
    # y . m_k + b_k + c >= -|y| max|m_k| + min b_k + c.
    start, stop = mix.group_starts[g], mix.group_starts[g + 1]
    # Beyond 1e154 bandwidths the norm overflows (inf, or 0 x inf for a
    # one-member group): the row is then counted slow, which is safe.
    with np.errstate(over="ignore", invalid="ignore"):
        low = np.sqrt(np.einsum("ij,ij->i", Yg, Yg))
        low *= -mix.group_radius[g]
        low += mix.logit_offset[start:stop].min() + c
    slow = ~(low >= _shared._SLOW_EXPONENT)
    # Raised per row, by the row's own bound only: a whole block raised at
    # once would also raise its other rows' exponents that lie between
    # _SLOW_EXPONENT and _MIN_EXPONENT, and the bits of a row's smallest
    # results (a Hessian entry made of such terms) would depend on the rows
    # gathered with it.
    floor = np.where(slow, _shared._MIN_EXPONENT, -np.inf)[:, None]
    S = np.zeros((idx.size, q))
    width = min(cb, stop - start)
    cols = np.empty((d + 2, width))
    moments = np.empty((width, moment_rows(q)))
    block_rows = max(ROW_ALIGN, cells // width // ROW_ALIGN * ROW_ALIGN)
    buf = np.empty(min(idx.size, block_rows) * width)
    for c0 in range(start, stop, cb):
        c1 = min(stop, c0 + cb)
        nc = c1 - c0
        M = mix.white_means[c0:c1]
        cols[:d, :nc] = M.T
        cols[d, :nc] = mix.logit_offset[c0:c1]
        cols[d + 1, :nc] = 1.0
        B = cols[:, :nc]
        A = moment_matrix(M, order, moments[:nc])
        for r0 in range(0, idx.size, block_rows):
            r1 = min(idx.size, r0 + block_rows)
            E = buf[: (r1 - r0) * nc].reshape(r1 - r0, nc)
            serial_matmul(lhs[r0:r1], B, E)
            # An overflow here is caught below and the row redone.
            with np.errstate(over="ignore", invalid="ignore"):
                if slow[r0:r1].any():
                    np.maximum(E, floor[r0:r1], out=E)
                exp_in_place(E, False)
                Sb = block_moments(E, A, q)
            bad = np.flatnonzero(
                ~(Sb[: max(0, min(r1, n) - r0), 0] < _shared._OVERFLOW)
            )
            if bad.size:
                Sb[bad] = _redo_rows(lhs, r0 + bad, B, A, S, rows, shift, acc)
            S[r0:r1] += Sb
    return S[:n], Yg[:n]


def _redo_rows(lhs, local, B, A, S, rows, shift, acc):
    """Moments of a block for the gathered rows ``local`` whose sum
    overflowed: each row's shift is raised by ``delta >= 0``, its block
    maximum, and what it has accumulated (earlier groups in ``acc``, this
    group's earlier columns in ``S``) is multiplied by ``exp(-delta)``."""
    n = local.size
    d = lhs.shape[1] - 2
    # Padded to full tiles, so that a row's result does not depend on which
    # other rows are redone with it.
    part = np.zeros((-(-n // ROW_ALIGN) * ROW_ALIGN, d + 2))
    part[:n] = lhs[local]
    logits = serial_matmul(part, B, np.empty((len(part), B.shape[1])))
    delta = np.maximum(logits[:n].max(axis=1), 0.0)
    scale = np.exp(-delta)
    S[local] *= scale[:, None]
    acc.rescale(rows[local], scale)
    shift[rows[local]] += delta
    lhs[local, d + 1] -= delta
    logits[:n] -= delta[:, None]
    logits[n:] = 0.0
    return block_moments(exp_in_place(logits), A, S.shape[1])[:n]


class _Accumulator:
    """Running moments of every query of a chunk over the groups visited:
    the weight ``W`` (sum of terms), the mean offset ``mean`` of the
    components from the query (order >= 1) and their centred second
    moments ``M2`` (order 2), whitened."""

    def __init__(self, m, d, order):
        self.order = order
        self.W = np.zeros(m)
        self.mean = np.zeros((m, d)) if order >= 1 else None
        self.M2 = np.zeros((m, d * (d + 1) // 2)) if order >= 2 else None

    def rescale(self, rows, scale):
        """Multiply the sums of ``rows`` by ``scale`` (their shift rose)."""
        self.W[rows] *= scale
        if self.M2 is not None:
            self.M2[rows] *= scale[:, None]

    def join(self, rows, S, Y):
        """Join a group's moments ``S`` for ``rows`` (queries at ``Y`` in the
        group's frame)."""
        if self.order == 0:
            self.W[rows] += S[:, 0]
            return
        W, mean = self.W[rows], self.mean[rows]
        M2 = None if self.M2 is None else self.M2[rows]
        _chan_update(W, mean, M2, S, Y)
        self.W[rows] = W
        self.mean[rows] = mean
        if M2 is not None:
            self.M2[rows] = M2


def _chan_update(W, mean, M2, S, Y):
    """Join the moments ``S = [S0, S1, triu S2]`` of a group (in a frame
    where the queries sit at ``Y``) into the running weight ``W``, mean
    offset from the query ``mean`` and centred second moments ``M2`` (or
    ``None``), in place."""
    S0 = S[:, 0]
    has = S0 > 0
    if not has.all():
        S, S0, Y = S[has], S0[has], Y[has]
    W_old = W[has]
    W_new = W_old + S0
    W[has] = W_new
    d = Y.shape[1]
    block_mean = S[:, 1 : d + 1] / S0[:, None]
    block_offset = block_mean - Y
    delta = block_offset - mean[has]
    # The weighted mean of the two, not mean + delta * share: where the old
    # weight has underflowed to 0 (a far group rescaled away), its mean,
    # however large, must vanish without cancelling against the new one.
    mean[has] = (W_old[:, None] * mean[has] + S0[:, None] * block_offset) / W_new[
        :, None
    ]
    if M2 is None:
        return
    i_tri, j_tri = np.triu_indices(d)
    block_m2 = S[:, d + 1 :] - S0[:, None] * (
        block_mean[:, i_tri] * block_mean[:, j_tri]
    )
    # sqrt of the weight on each factor: 0 x (large), never 0 x inf; the
    # share W_old / W_new <= 1 first, as both sums may exceed 1e154.
    delta *= np.sqrt(W_old / W_new * S0)[:, None]
    block_m2 += delta[:, i_tri] * delta[:, j_tri]
    M2[has] += block_m2


def _grouped_finish(acc, Yh, shift, mix, order, m):
    """Log f, gradient and Hessian of log f of the first ``m`` rows."""
    d = Yh.shape[1]
    acc.W[m:] = 1.0  # padding rows: no group, nothing to normalise
    out = empty_outputs(m, d, order)
    log_f = out[0]
    np.log(acc.W[:m], out=log_f)
    log_f += shift[:m]
    log_f -= 0.5 * np.einsum("ij,ij->i", Yh[:m], Yh[:m])
    log_f += mix.log_kernel_norm
    if order == 0:
        return out
    U = mix.prec_chol
    # Full tiles: the rows are still padded.
    grad = serial_matmul(acc.mean, np.ascontiguousarray(U.T), np.empty_like(acc.mean))
    out[1][:] = grad[:m]
    if order == 1:
        return out
    cov = np.zeros((len(acc.W), d + acc.M2.shape[1]))
    np.divide(acc.M2, acc.W[:, None], out=cov[:, d:])
    out[2][:] = hessians_from_moments(cov, U)[:m]
    return out


def few_queries_offsets(X, mix, order):
    """Log f and its derivatives for a few queries, from exact offsets.

    For calls of fewer than ``ROW_ALIGN`` queries against data spanning many
    bandwidths: every component's whitened offset ``w_k = (mu_k - x) U`` is
    formed from the input-space difference, so no frame and no group is
    needed and nothing cancels (the offsets of a query from the kernels
    near it are small, whatever the spread of the data). With
    ``p_k`` the responsibilities from the logits ``a_k - |w_k|^2 / 2`` (their
    row maximum as the shift, exponents raised to ``_MIN_EXPONENT``),
    ``log f = logsumexp_k(a_k - |w_k|^2 / 2) + log|U| - d/2 log 2 pi``,
    ``grad log f = (sum_k p_k w_k) U^T`` and
    ``hess log f = U (Cov_p(w) - I) U^T``. The ``m x K x d`` offsets (a few
    queries) are bounded by the caller against ``working_memory``; the
    sums are ``einsum`` loops, no BLAS call, so they do not depend on
    BLAS's threads.
    """
    m, d = X.shape
    K = mix.n_components
    U = mix.prec_chol
    W = np.subtract(mix.means[None, :, :], X[:, None, :])
    W = serial_matmul(W.reshape(m * K, d), U, np.empty((m * K, d))).reshape(m, K, d)
    L = np.einsum("mkd,mkd->mk", W, W)
    L *= -0.5
    L += mix.log_weights
    shift = L.max(axis=1, keepdims=True)
    L -= shift
    np.maximum(L, _shared._MIN_EXPONENT, out=L)
    E = np.exp(L, out=L)
    s0 = E.sum(axis=1)
    log_f = np.log(s0)
    log_f += shift[:, 0]
    log_f += mix.log_kernel_norm
    if order == 0:
        return log_f, None, None
    mean = np.einsum("mk,mkd->md", E, W)
    mean /= s0[:, None]
    grad = mean @ U.T
    if order == 1:
        return log_f, grad, None
    W -= mean[:, None, :]
    C = np.einsum("mk,mki,mkj->mij", E, W, W)
    C /= s0[:, None, None]
    return log_f, grad, _shared.hessian_from_covariance(C, U)
