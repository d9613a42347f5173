"""Grouped shared-precision path: data spanning many bandwidths.

The components are sorted into spatial groups (:func:`make_mixture`), each
evaluated in a frame of its own; see :mod:`skdensity._core` for the
formulas and :func:`grouped_task` for the frames and the joining of moments.
"""

import numpy as np

from ._blocks import ROW_ALIGN, empty_outputs, serial_matmul, store_rows
from ._representation import GROUP_DIAMETER
from ._shared import (
    block_moments,
    exp_in_place,
    hessians_from_moments,
    moment_matrix,
    moment_rows,
    n_moments,
)


def grouped_task(X, mix, order, plan):
    """Log f and its derivatives for a chunk of queries, grouped components.

    For data spanning many bandwidths the single frame of
    :func:`shared_task` would lose precision like ``eps`` times the squared
    distance from the centre. Here every group of components has a frame of
    its own, centred on one of its members, and each query is whitened in
    that frame from its exact input-space offset ``x - o_g``. Per query,
    the squared norms are taken relative to its reference group ``h`` (the
    nearest): ``|y_g|^2 - |y_h|^2 = 2 y_h . D + |D|^2`` with
    ``D = (o_h - o_g) U``, which has no cancellation. The sums are joined
    by an online log-sum-exp, and the moments by the pairwise update of
    Chan, Golub and LeVeque (1979): per group, its weight, the mean offset
    of its components from the query and their centred second moments, so
    the covariance is never a difference of large numbers. Groups whose
    every term is below ``1e-40`` of the sum so far (a lower bound on their
    distance, groups visited nearest first) are skipped: they cannot change
    a float64 result.
    """
    m, d = X.shape
    m_pad = -(-m // ROW_ALIGN) * ROW_ALIGN
    # Padding rows repeat the last query: they then need no other group.
    Xp = np.empty((m_pad, d))
    Xp[:m] = X
    Xp[m:] = X[-1] if m else 0.0
    out = empty_outputs(m_pad, d, order)
    # Small blocks of (spatially sorted) rows: each meets few groups.
    step = min(plan.row_block, _GROUPED_ROWS)
    for r0 in range(0, m_pad, step):
        rows = slice(r0, min(m_pad, r0 + step))
        store_rows(out, rows, _grouped_block(Xp[rows], mix, order, plan.col_block))
    return tuple(None if v is None else v[:m] for v in out)


def spatial_order(X, mixture):
    """An order of the queries that keeps neighbours together: by the group
    cell each falls in (the cells of :func:`make_mixture`'s grouping), so a
    block of consecutive rows lies near few groups."""
    d = X.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        white = (X - mixture.center) @ mixture.prec_chol
        cells = np.floor(white * (np.sqrt(d) / GROUP_DIAMETER))
    cells = np.nan_to_num(cells, nan=0.0, posinf=np.finfo(float).max)
    return np.lexsort(cells.T[::-1])


#: Rows of a block on the grouped path (a multiple of ROW_ALIGN).
_GROUPED_ROWS = 64

#: Terms below exp(_NEGLIGIBLE) times the running sum cannot change it.
_NEGLIGIBLE = -92.0


def _grouped_block(Xb, mix, order, cb):
    n, d = Xb.shape
    U = mix.prec_chol
    q = n_moments(d, order)
    n_tri = d * (d + 1) // 2
    # Squared distances from each query to each group's origin, from exact
    # input-space offsets: they choose each query's reference group and
    # bound which groups can matter, so they must not round like the
    # global frame would (eps times the squared extent of the data).
    dist2 = _group_distances(Xb, mix)
    ref = np.argmin(dist2, axis=1)
    Oh = mix.origins[ref]
    Yh = (Xb - Oh) @ U
    dist = np.sqrt(dist2)
    # Members lie within group_radius of their origin (exact offsets).
    reach = mix.group_radius * (1 + 1e-12)
    lower = 0.5 * np.maximum(dist - reach, 0.0) ** 2
    starts = mix.group_starts
    max_logw = np.maximum.reduceat(mix.log_weights, starts[:-1])
    # Groups that can matter at all: their largest possible term is within
    # _NEGLIGIBLE of the smallest term some group surely holds. Only these
    # are visited.
    min_logw = np.minimum.reduceat(mix.log_weights, starts[:-1])
    with np.errstate(over="ignore", invalid="ignore"):
        surely = (min_logw - 0.5 * (dist + reach) ** 2).max(axis=1)
        needed = np.any(max_logw - lower >= surely[:, None] + _NEGLIGIBLE, axis=0)
    half_yh2 = 0.5 * np.einsum("ij,ij->i", Yh, Yh)
    shift = np.full(n, -np.inf)
    W = np.zeros(n)
    mean = np.zeros((n, d))
    M2 = np.zeros((n, n_tri))
    i_tri, j_tri = np.triu_indices(d)
    moments = np.empty((cb, moment_rows(q)))
    candidates = np.flatnonzero(needed)
    for g in candidates[np.argsort(lower.min(axis=0)[candidates], kind="stable")]:
        # Largest possible log-term of the group, relative to -|y_h|^2 / 2.
        bound = max_logw[g] - lower[:, g] + half_yh2
        if np.all(bound < shift + _NEGLIGIBLE):
            continue
        Yg = (Xb - mix.origins[g]) @ U
        D = (Oh - mix.origins[g]) @ U
        frame_shift = -np.einsum("ij,ij->i", Yh, D) - 0.5 * np.einsum("ij,ij->i", D, D)
        for c0 in range(starts[g], starts[g + 1], cb):
            c1 = min(starts[g + 1], c0 + cb)
            M = mix.white_means[c0:c1]
            E = serial_matmul(Yg, M.T, np.empty((n, c1 - c0)))
            E += mix.logit_offset[c0:c1]
            E += frame_shift[:, None]
            new = np.maximum(shift, E.max(axis=1))
            rescale = np.exp(shift - new)
            shift = new
            E -= shift[:, None]
            exp_in_place(E)
            A = moment_matrix(M, order, moments[: c1 - c0])
            S = block_moments(E, A, q)
            W *= rescale
            M2 *= rescale[:, None]
            _chan_update(W, mean, M2, S, Yg, order, i_tri, j_tri)
    log_f = np.log(W) + shift - half_yh2 + mix.log_kernel_norm
    if order == 0:
        return log_f, None, None
    grad = mean @ U.T
    if order == 1:
        return log_f, grad, None
    cov = np.zeros((n, d + n_tri))
    np.divide(M2, W[:, None], out=cov[:, d:])
    return log_f, grad, hessians_from_moments(cov, U)


def _group_distances(Xb, mix):
    """``|(x - o_g) U|^2`` for every query and group, (n, G), in chunks of
    groups so that the (n, chunk, d) offsets stay small."""
    n, d = Xb.shape
    G = mix.n_groups
    out = np.empty((n, G))
    step = max(1, _OFFSET_FLOATS // max(1, n * d))
    with np.errstate(over="ignore"):  # beyond float range: +inf, never near
        for g0 in range(0, G, step):
            diff = Xb[:, None, :] - mix.origins[None, g0 : g0 + step, :]
            white = diff @ mix.prec_chol
            out[:, g0 : g0 + step] = np.einsum("ngd,ngd->ng", white, white)
    return out


#: Floats of one chunk of query-to-group offsets.
_OFFSET_FLOATS = 2**18


def _chan_update(W, mean, M2, S, Y, order, i_tri, j_tri):
    """Join the moments ``S = [S0, S1, triu S2]`` of a block (in a frame where
    the queries sit at ``Y``) into the running weight ``W``, mean offset from
    the query ``mean`` and centred second moments ``M2``, in place."""
    S0 = S[:, 0]
    has = S0 > 0
    if not has.all():
        S, S0, Y = S[has], S0[has], Y[has]
    W_old = W[has]
    W_new = W_old + S0
    W[has] = W_new
    if order == 0:
        return
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
    if order == 1:
        return
    block_m2 = S[:, d + 1 :] - S0[:, None] * (
        block_mean[:, i_tri] * block_mean[:, j_tri]
    )
    # sqrt of the weight on each factor: 0 x (large), never 0 x inf.
    delta *= np.sqrt(W_old * S0 / W_new)[:, None]
    block_m2 += delta[:, i_tri] * delta[:, j_tri]
    M2[has] += block_m2
