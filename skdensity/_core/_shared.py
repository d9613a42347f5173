"""Shared-precision path: a KDE or a tied mixture, in one frame or in groups.

See :mod:`skdensity._core` for the formulas and the frames.
"""

import functools

import numpy as np

from ._blocks import ROW_ALIGN, SERIAL_PRODUCT, serial_matmul, working_memory_bytes
from ._component import symmetrize

#: A block sum of kernel terms above this means the shift was too low (the
#: probe missed a much closer component): the block is redone with its own
#: maximum. Running sums are renormalised above _RENORMALISE.
_OVERFLOW = 1e200
_RENORMALISE = 1e100

#: Exponents are raised to at least this before ``exp`` where some may be
#: lower than _SLOW_EXPONENT. NumPy's ``exp`` is about 90x slower where its
#: result is subnormal (exponents in [-745, -708]) and 17x slower where it
#: rounds to 0, and products of subnormals slow the moment products as much;
#: from n ~ 10^4 kernels a few percent of the terms can fall there. Every sum
#: that receives the raised terms holds a term 1 (the shift is one of its
#: terms), so each adds at most ``exp(-600) = 2.7e-261`` relative to the sum,
#: far below its rounding: no result changes on the scale of its sum (an
#: entry made of such terms alone, a Hessian entry near 1e-258, can change in
#: its last bits, which is why raising is decided row by row). -600 and not
#: -700: a term exp(-700) = 1e-304 times a moment of 1e-5 would be
#: subnormal again.
_MIN_EXPONENT = -600.0

#: Blocks whose exponents are all above this (a bound from the norms, see
#: shared_task) skip the raising pass, which costs about half an ``exp``.
_SLOW_EXPONENT = -700.0


def exp_in_place(E, rows=True):
    """``exp`` of a block of exponents, in place, at full speed.

    The exponents of ``rows`` (an index array, ``True`` for all, ``False``
    for none) are raised to ``_MIN_EXPONENT`` first: those that may fall
    where ``exp`` is slow. ``rows`` may also be a column of per-row floors
    (``_MIN_EXPONENT`` or ``-inf``), for one pass over a block whose rows
    are mostly raised. Overflows are left to the caller.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if rows is True:
            np.maximum(E, _MIN_EXPONENT, out=E)
        elif isinstance(rows, np.ndarray) and rows.dtype.kind == "f":
            np.maximum(E, rows, out=E)
        elif rows is not False:
            E[rows] = np.maximum(E[rows], _MIN_EXPONENT)
        return np.exp(E, out=E)


def _slow_rows(Yaug, mix):
    """Rows whose exponents should be raised before ``exp`` (boolean).

    Raising a row costs about a quarter of its ``exp``; a term whose
    ``exp`` is subnormal or 0 costs 20-90 ``exp``. So a row is raised when
    some of its exponents may lie below ``_SLOW_EXPONENT`` by the bound
    ``y . m_k + b_k - s >= -|y| max|m_k| + min b_k - s`` and at least one
    of ``N_SAMPLE`` evenly spaced components does (more than about 0.4% of
    the terms, where raising pays for itself): queries at the edge of
    Gaussian data meet a handful of underflowing terms, queries over wide
    or uniform data a large share.
    """
    d = Yaug.shape[1] - 2
    Y = Yaug[:, :d]
    reach, b_min = mix.exponent_floor
    low = -np.sqrt(np.einsum("ij,ij->i", Y, Y)) * reach + b_min
    rows = np.flatnonzero(~(low + Yaug[:, d + 1] >= _SLOW_EXPONENT))
    if rows.size == 0:
        return np.zeros(Yaug.shape[0], dtype=bool)
    cols = mix.sample_columns
    slow = np.zeros(Yaug.shape[0], dtype=bool)
    # In chunks of rows: the sampled exponents stay within 1 MiB.
    for r0 in range(0, rows.size, 512):
        chunk = rows[r0 : r0 + 512]
        logits = serial_matmul(Yaug[chunk], cols, np.empty((len(chunk), cols.shape[1])))
        slow[chunk] = (logits < _SLOW_EXPONENT).any(axis=1)
    return slow


def _raised_rows(slow):
    """``slow`` rows of a block as :func:`exp_in_place` takes them: ``False``
    for none, ``True`` for all, per-row floors when most are (one pass over
    the block is then cheaper than gathering), else their indices. Only the
    slow rows are raised, so a row's bits do not depend on its neighbours
    (raising changes results made of terms near ``exp(-600)``)."""
    rows = np.flatnonzero(slow)
    if rows.size == 0:
        return False
    if rows.size == slow.size:
        return True
    if 2 * rows.size > slow.size:
        return np.where(slow, _MIN_EXPONENT, -np.inf)[:, None]
    return rows


def n_moments(d, order):
    """Columns of the moment matrix: 1, then m (order 1), then m m^T's triangle."""
    return 1 + (d if order >= 1 else 0) + (d * (d + 1) // 2 if order >= 2 else 0)


#: Up to this many moments, one matrix-vector product per moment is cheaper
#: than one matrix product, which first copies (packs) the whole block.
_MAX_GEMV_MOMENTS = 3

#: Matrix products run fastest on a multiple of this many moment columns
#: (full BLAS register tiles); the extra columns are zero.
_MOMENT_ALIGN = 4


def moment_rows(q):
    """Rows of the moment matrix for ``q`` moments, padding included."""
    return q if q <= _MAX_GEMV_MOMENTS else -(-q // _MOMENT_ALIGN) * _MOMENT_ALIGN


def moment_matrix(M, order, out):
    """Columns ``1, m_k, triu(m_k m_k^T)`` (then zeros) for a block of
    whitened means ``M``, one row per component, written into ``out`` of
    shape ``(len(M), moment_rows(q))`` (C-ordered, so that the moment
    product has no transposed operand)."""
    d = M.shape[1]
    out[:, 0] = 1.0
    end = 1
    if order >= 1:
        out[:, 1 : d + 1] = M
        end = d + 1
    if order >= 2:
        for i, j in zip(*_triangle(d)[:2], strict=True):
            np.multiply(M[:, i], M[:, j], out=out[:, end])
            end += 1
    out[:, end:] = 0.0
    return out


def block_moments(E, A, q):
    """First ``q`` moments ``E @ A`` of a block of kernel terms, for ``A``
    from :func:`moment_matrix`."""
    if A.shape[1] > _MAX_GEMV_MOMENTS:
        return serial_matmul(E, A, np.empty((E.shape[0], A.shape[1])))[:, :q]
    S = np.empty((q, E.shape[0]))
    for j in range(q):
        serial_matmul(E, np.ascontiguousarray(A[:, j]), S[j])
    return S.T


def shared_task(X, mix, order, plan):
    """Log f and its derivatives for a chunk of queries, shared precision.

    The kernel terms of a block of ``r`` queries and ``c`` components are
    ``exp(y . m_k + b_k - s(y))`` with the logit offset
    ``b_k = a_k - |m_k|^2/2`` and a shift
    ``s(y)``. One matrix product of the augmented rows ``[y, 1, -s]`` with
    the columns ``[m_k; b_k; 1]`` writes them (shift included), ``exp`` runs
    in place, and one matrix product with the rows ``[1, m_k, triu(m_k
    m_k^T)]`` accumulates the zeroth, first and second moments. The block
    buffer is reused and sized to stay in cache
    (:func:`~skdensity._core._blocks.plan_blocks`).

    The shift is the largest log-term over a probe of evenly spaced
    components: a lower bound of the maximum over all components, so the sum
    is at least 1 and never underflows. A block whose sum overflows (a
    component far closer than every probed one) is redone with its own
    maximum as the shift, and running sums are renormalised when they grow,
    so the result is the exact log-sum-exp whatever the query.
    """
    m, d = X.shape
    K = mix.n_components
    q = n_moments(d, order)
    rb, cb = plan.row_block, plan.col_block
    # Rows padded to full BLAS tiles (see ROW_ALIGN); padding rows are zero.
    m_pad = plan.padded(m)
    Yaug = np.zeros((m_pad, d + 2))
    np.einsum("ij,jk->ik", X - mix.center, mix.prec_chol, out=Yaug[:m, :d])
    Yaug[:, d] = 1.0
    probe_cols = mix.probe_columns
    probe = np.empty((min(rb, m_pad), probe_cols.shape[1]))
    for r0 in range(0, m_pad, rb):
        rows = Yaug[r0 : r0 + rb]
        logits = serial_matmul(rows[:, : d + 1], probe_cols, probe[: len(rows)])
        rows[:, d + 1] = -logits.max(axis=1)
    slow = _slow_rows(Yaug, mix)
    acc = np.zeros((m_pad, q))
    buf = np.empty(rb * cb)
    for c0 in range(0, K, cb):
        c1 = min(K, c0 + cb)
        nc = c1 - c0
        B, A = _column_block(mix, c0, c1, order)
        for r0 in range(0, m_pad, rb):
            r1 = min(m_pad, r0 + rb)
            E = buf[: (r1 - r0) * nc].reshape(r1 - r0, nc)
            serial_matmul(Yaug[r0:r1], B, E)
            # exp only of the queries' rows: padding rows, there for full
            # BLAS tiles, would cost 15 of 16 exps of a one-query call.
            live = min(r1, m) - r0
            E[live:] = 1.0
            # An overflow here is caught below and the block redone.
            exp_in_place(E[:live], _raised_rows(slow[r0 : r0 + live]))
            with np.errstate(over="ignore", invalid="ignore"):
                S = block_moments(E, A, q)
            bad = ~(S[:, 0] < _OVERFLOW)
            if bad.any():
                S[bad] = _redo_with_own_max(Yaug, acc, r0 + np.flatnonzero(bad), B, A)
            acc[r0:r1] += S
            big = acc[r0:r1, 0] > _RENORMALISE
            if big.any():
                rows = r0 + np.flatnonzero(big)
                s0 = acc[rows, :1]
                acc[rows] /= s0
                Yaug[rows, d + 1] -= np.log(s0[:, 0])
    return _shared_finish(Yaug, acc, mix, order, m)


#: Most floats of column blocks a mixture keeps between calls, all orders
#: together (2 MiB): for a few blocks of queries against a few thousand
#: kernels, building them would cost more than the arithmetic.
_KEPT_COLUMN_FLOATS = 2**18


def _column_block(mix, c0, c1, order):
    """Exponent columns ``[m_k; b_k; 1]`` (d + 2, c) and moment matrix
    (c, moment_rows(q)) of components ``c0:c1``, kept by the mixture while
    the blocks it keeps fit ``_KEPT_COLUMN_FLOATS``."""
    key = (c0, c1, order)
    kept = mix.column_blocks
    block = kept.get(key)
    if block is not None:
        return block
    M = mix.white_means[c0:c1]
    d = M.shape[1]
    nc = c1 - c0
    B = np.empty((d + 2, nc))
    B[:d] = M.T
    B[d] = mix.logit_offset[c0:c1]
    B[d + 1] = 1.0
    q = moment_rows(n_moments(d, order))
    # Column-ordered where block_moments takes one column at a time.
    layout = "F" if q <= _MAX_GEMV_MOMENTS else "C"
    A = moment_matrix(M, order, np.empty((nc, q), order=layout))
    block = (B, A)
    held = sum(b.size + a.size for b, a in kept.values())
    if held + B.size + A.size <= _KEPT_COLUMN_FLOATS:
        kept[key] = block
    return block


def few_queries(X, mix, order):
    """Log f and its derivatives for a few queries in one frame.

    For calls of fewer than ``ROW_ALIGN`` queries, which are not padded to
    full tiles: the formulas of :func:`shared_task`, with the row maxima of
    all the exponents as the shifts, so that each sum lies in [1, K] (no
    block is redone, no sum renormalised) and every exponent can be raised
    to ``_MIN_EXPONENT`` before ``exp`` (see there). The moments are taken
    from the whitened means themselves, ``S1 = E M`` and
    ``S2 = (E m_i) M`` (no moment matrix to build), in
    chunks of components whose products stay serial
    (``SERIAL_PRODUCT``). A dozen NumPy calls for a few hundred kernels:
    the overhead of one query is the cost of a few hundred kernel terms.
    """
    m, d = X.shape
    K = mix.n_components
    M, MT = mix.white_means, mix.white_means_t
    Y = (X - mix.center) @ mix.prec_chol
    E = np.empty((m, K))
    step = max(1, SERIAL_PRODUCT // (m * d))
    for c0 in range(0, K, step):
        serial_matmul(Y, MT[:, c0 : c0 + step], E[:, c0 : c0 + step])
    E += mix.logit_offset
    shift = E.max(axis=1, keepdims=True)
    E -= shift
    np.maximum(E, _MIN_EXPONENT, out=E)
    np.exp(E, out=E)
    s0 = E.sum(axis=1)
    log_f = np.log(s0)
    log_f += shift[:, 0]
    log_f -= 0.5 * np.einsum("ij,ij->i", Y, Y)
    log_f += mix.log_kernel_norm
    if order == 0:
        return log_f, None, None
    # S1 = E M and S2 = sum_k E_k m_k m_k^T, in chunks of components; for
    # one query S1 = M^T e is a matrix-vector product (it streams M once),
    # and S2 is one (d, c) x (c, d) product per query (faster than a batched
    # product of transposed operands: 0.46 against 0.99 ms for 10 queries
    # against 10^4 kernels in 2-D).
    step = max(1, SERIAL_PRODUCT // (m * d * (d if order == 2 else 1)))
    S1 = np.zeros((m, d))
    S2 = np.zeros((m, d, d)) if order == 2 else None
    for c0 in range(0, K, step):
        Ec, Mc, MTc = E[:, c0 : c0 + step], M[c0 : c0 + step], MT[:, c0 : c0 + step]
        if m == 1:
            S1[0] += MTc @ Ec[0]
        else:
            S1 += Ec @ Mc
        if S2 is not None:
            for i in range(m):  # one (d, c) x (c, d) product per query
                S2[i] += (MTc * Ec[i]) @ Mc
    U = mix.prec_chol
    mean = S1 / s0[:, None]
    grad = (mean - Y) @ U.T
    if order == 1:
        return log_f, grad, None
    C = S2 / s0[:, None, None]
    C -= mean[:, :, None] * mean[:, None, :]
    return log_f, grad, hessian_from_covariance(C, U)


def hessian_from_covariance(C, U):
    """``U (C - I) U^T`` for stacked covariances ``C`` (m, d, d) of the
    whitened means under the responsibilities (overwritten), symmetrised
    as on the other paths: the Hessian of log f of the few-query paths."""
    m, d = C.shape[:2]
    C.reshape(m, d * d)[:, :: d + 1] -= 1.0
    return symmetrize(U @ C @ U.T)


def _redo_with_own_max(Yaug, acc, rows, B, A):
    """Moments of a block for ``rows`` whose shift was too low: raise each
    row's shift to the block maximum, rescaling its running sums."""
    n = rows.size
    shift = -Yaug[rows, -1]
    # Padded to full tiles, so that a row's result does not depend on which
    # other rows are redone with it.
    lhs = np.zeros((-(-n // ROW_ALIGN) * ROW_ALIGN, Yaug.shape[1] - 1))
    lhs[:n] = Yaug[rows, :-1]
    logits = serial_matmul(lhs, B[:-1], np.empty((len(lhs), B.shape[1])))
    new_shift = np.maximum(shift, logits[:n].max(axis=1))
    acc[rows] *= np.exp(shift - new_shift)[:, None]
    Yaug[rows, -1] = -new_shift
    logits[:n] -= new_shift[:, None]
    logits[n:] = 0.0
    return block_moments(exp_in_place(logits), A, acc.shape[1])[:n]


def _shared_finish(Yaug, acc, mix, order, m):
    """Log f, gradient and Hessian of log f from the accumulated moments.

    ``Yaug`` and ``acc`` keep their padding rows (full BLAS tiles for the
    matrix products below); results are returned for the first ``m`` rows.
    """
    d = Yaug.shape[1] - 2
    Y = Yaug[:, :d]
    s0 = acc[:, 0]
    log_f = np.log(s0)
    log_f -= Yaug[:, d + 1]
    log_f -= 0.5 * np.einsum("ij,ij->i", Y, Y)
    log_f += mix.log_kernel_norm
    if order == 0:
        return log_f[:m], None, None
    U = mix.prec_chol
    moments = acc[:, 1:] / s0[:, None]
    mean_m = moments[:, :d]
    grad = np.einsum("ij,kj->ik", mean_m - Y, U)
    if order == 1:
        return log_f[:m], grad[:m], None
    return log_f[:m], grad[:m], hessians_from_moments(moments, U)[:m]


#: Most rows of a block when turning moments into Hessians (a multiple of
#: ROW_ALIGN, so that the matrix products run on full tiles).
_FINISH_ROWS = 256


def hessians_from_moments(moments, U):
    """Hessians of log f from moment rows (see :func:`_hessian_rows`), in
    blocks of rows whose temporaries (about four d x d matrices per row)
    stay within an eighth of ``working_memory``. In blocks, the temporaries
    are also reused by the allocator instead of being faulted in afresh."""
    n, d = moments.shape[0], U.shape[0]
    per_row = 8 * (moments.shape[1] + 4 * d * d)
    rows = min(_FINISH_ROWS, working_memory_bytes() // 8 // per_row)
    rows = max(ROW_ALIGN, rows - rows % ROW_ALIGN)
    hess = np.empty((n, d, d))
    for r0 in range(0, n, rows):
        hess[r0 : r0 + rows] = _hessian_rows(moments[r0 : r0 + rows], U)
    return hess


@functools.cache
def _triangle(d):
    """Index arrays of the upper triangle of a d x d matrix: rows ``i``,
    columns ``j``, the positions of its diagonal, its flat positions and
    those of its mirror image, and the flat transpose permutation."""
    i, j = np.triu_indices(d)
    flip = np.arange(d * d).reshape(d, d).T.ravel()
    return i, j, np.flatnonzero(i == j), i * d + j, j * d + i, flip


def _hessian_rows(moments, U):
    """``U (Cov_r(m) - I) U^T`` from the rows ``[mean m, triu E[m m^T]]``."""
    n = moments.shape[0]
    d = U.shape[0]
    mean_m = moments[:, :d]
    i, j, diag, upper, lower, flip = _triangle(d)
    # Cov_r(m) - I on the triangle, then in full.
    tri = moments[:, d:] - mean_m[:, i] * mean_m[:, j]
    tri[:, diag] -= 1.0
    cov = np.empty((n, d * d))
    cov[:, upper] = tri
    cov[:, lower] = tri
    # U C U^T as two flat products: T_k = C_k U^T, then T_k^T U^T, which is
    # (U C_k U^T)^T; symmetrised through the flat transpose permutation.
    UT = U.T
    T = serial_matmul(cov.reshape(n * d, d), UT, np.empty((n * d, d)))
    T = T.reshape(n, d, d).transpose(0, 2, 1).reshape(n * d, d)
    hess = serial_matmul(T, UT, np.empty((n * d, d))).reshape(n, d * d)
    hess += hess[:, flip]
    hess *= 0.5
    return hess.reshape(n, d, d)
