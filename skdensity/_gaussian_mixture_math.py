r"""Log-density, gradient and Hessian of a Gaussian mixture, in closed form.

This module is the one numerical core of skdensity. A Gaussian KDE and a
Gaussian mixture model are both mixtures

.. math::

    f(x) = \sum_{k=1}^K \exp(a_k)\, \mathcal N(x; \mu_k, P_k^{-1}),

with log-weights :math:`a_k` (not necessarily normalised: the variational
predictive of a Bayesian mixture is such a sum), means :math:`\mu_k` and
precisions :math:`P_k = U_k U_k^\top` given by their Cholesky factors
:math:`U_k` (upper triangular, sklearn's ``precisions_cholesky_`` convention).

With the responsibilities :math:`r_k(x) = \mathrm{softmax}_k(a_k + \log
\mathcal N(x; \mu_k, P_k^{-1}))` and :math:`g_k(x) = P_k(\mu_k - x)`,

.. math::

    \nabla \log f = \sum_k r_k g_k, \qquad
    \nabla^2 \log f = \sum_k r_k \left[(g_k - \nabla\log f)
        (g_k - \nabla\log f)^\top - P_k\right],

and :math:`\nabla f = f\,\nabla\log f`,
:math:`\nabla^2 f = f\,(\nabla^2\log f + \nabla\log f\,\nabla\log f^\top)`.
The gradient is with respect to the query point and points uphill.

Two paths evaluate these formulas:

* **shared** (one precision for all components: a KDE, a tied mixture). The
  queries and means are centred and whitened once, :math:`y = (x - c) U`,
  :math:`m_k = (\mu_k - c) U`, so that
  :math:`\log\mathcal N_k = \mathrm{const} - \tfrac12\|y\|^2 + y\cdot m_k -
  \tfrac12\|m_k\|^2`. The term :math:`\|y\|^2` is common to all components and
  is left out of the softmax, which keeps the responsibilities exact however
  far the query lies from the data. Then
  :math:`\nabla\log f = U(\bar m - y)` and
  :math:`\nabla^2\log f = U(\mathrm{Cov}_r(m) - I)U^\top` with
  :math:`\bar m = \sum_k r_k m_k`. Per block of queries and components:
  one matrix product writes the exponents (the softmax shift folded in),
  ``exp`` runs in place, one matrix product with the rows
  :math:`[1, m_k, \mathrm{triu}(m_k m_k^\top)]` accumulates the moments; an
  online log-sum-exp joins the component blocks. No Python loop over
  components, no ``m x K x d`` array. The rounding of
  :math:`\|y\|^2 - 2 y\cdot m_k + \|m_k\|^2` grows like
  :math:`\epsilon (\|y\| + \|m_k\|)^2`, so one frame serves data within
  :data:`COMPACT_RADIUS` bandwidths of their centre; wider data are sorted
  into spatial groups, each evaluated in a frame centred on one of its
  members from exact input-space offsets, and their moments are joined
  without cancellation (:func:`_grouped_task`). Accuracy then does not
  depend on where the data sit or how far they spread.
* **per-component** (a mixture with its own precisions). The residuals of
  all components are formed in input space, :math:`x - \mu_k`, then
  whitened (one batched matrix product), :math:`g_k` explicitly from them;
  the Hessian uses the centred form above, which is free of cancellation
  far from the data, and squared norms that would overflow are rescaled, so
  log-derivatives stay finite for every finite query.

Blocks are sized to stay in cache, row chunks (the unit of ``n_jobs``) to
stay within scikit-learn's ``working_memory``; rows are padded to full BLAS
tiles so that each query's result depends on that query alone.
"""

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import logsumexp

from ._utils import (
    ROW_ALIGN,
    for_each_row_chunk,
    plan_blocks,
    single_threaded_blas,
    working_memory_bytes,
)

_LOG_2PI = np.log(2 * np.pi)


# ---------------------------------------------------------------------------
# Canonical mixture representations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedPrecisionMixture:
    """Gaussian mixture whose components share one precision ``U U^T``.

    Build with :func:`make_mixture`. Attributes hold what evaluation reuses.
    The components are sorted into spatial groups (one group when the data
    span at most :data:`COMPACT_RADIUS` bandwidths around their centre);
    group ``g`` holds components ``group_starts[g]:group_starts[g + 1]``,
    whose whitened means are stored in the group's own frame,
    ``m_k = (mu_k - o_g) U``, with ``o_g = origins[g]`` a point of input
    space (a component's mean, or the centre ``c`` for a single group).
    """

    prec_chol: np.ndarray  # (d, d)
    center: np.ndarray  # (d,) weighted mean of the means
    white_means: np.ndarray  # (K, d) (mu_k - o_g) U, grouped
    neg_logit_offset: np.ndarray  # (K,) 0.5 |m_k|^2 - a_k
    log_norm: float  # sum log diag U - d/2 log 2 pi
    means: np.ndarray  # (K, d) input-space means, grouped order
    log_weights: np.ndarray  # (K,) grouped order
    origins: np.ndarray  # (G, d) input-space frame origin of each group
    origins_white: np.ndarray  # (G, d) (o_g - c) U, to find the nearest group
    group_starts: np.ndarray  # (G + 1,)

    @property
    def n_components(self):
        return self.white_means.shape[0]

    @property
    def n_features(self):
        return self.white_means.shape[1]

    @property
    def n_groups(self):
        return self.origins.shape[0]


@dataclass(frozen=True)
class ComponentPrecisionMixture:
    """Gaussian mixture whose components have their own precisions.

    Build with :func:`make_mixture`.
    """

    log_weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d)
    prec_chol: np.ndarray  # (K, d, d)
    precisions: np.ndarray  # (K, d, d)
    log_norm: np.ndarray  # (K,) a_k + sum log diag U_k - d/2 log 2 pi

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]


def make_mixture(log_weights, means, prec_chol):
    """Build the canonical representation of a Gaussian mixture.

    Parameters
    ----------
    log_weights : array-like of shape (K,)
        Log of the component weights (need not sum to one). Components with
        weight ``-inf`` are dropped.
    means : array-like of shape (K, d)
        Component means.
    prec_chol : array-like of shape (d, d) or (K, d, d)
        Cholesky factor(s) ``U`` of the precision, ``P = U U^T``: one shared
        factor, or one per component.

    Returns
    -------
    SharedPrecisionMixture or ComponentPrecisionMixture
    """
    log_weights = np.asarray(log_weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    prec_chol = np.asarray(prec_chol, dtype=np.float64)
    keep = log_weights > -np.inf
    if not keep.all():
        log_weights, means = log_weights[keep], means[keep]
        if prec_chol.ndim == 3:
            prec_chol = prec_chol[keep]
    d = means.shape[1]
    if prec_chol.ndim == 2:
        return _shared_mixture(log_weights, means, prec_chol)
    log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    return ComponentPrecisionMixture(
        log_weights=log_weights,
        means=means,
        prec_chol=prec_chol,
        precisions=prec_chol @ prec_chol.transpose(0, 2, 1),
        log_norm=log_weights + log_det - 0.5 * d * _LOG_2PI,
    )


# ---------------------------------------------------------------------------
# Shared-precision path
# ---------------------------------------------------------------------------

#: Data spanning at most this many bandwidths around their centre are
#: evaluated in one frame. Squared distances come from
#: ``|y|^2 - 2 y.m + |m|^2``, whose rounding error grows like
#: ``eps (|y| + |m|)^2``: about 1e-13 here, below the 1e-12 promised for log f.
COMPACT_RADIUS = 32.0

#: Diameter, in bandwidths, of the spatial groups of wider data: each group
#: is evaluated in a frame centred on one of its components.
GROUP_DIAMETER = 16.0


def _shared_mixture(log_weights, means, prec_chol):
    """:class:`SharedPrecisionMixture`, grouped when the data are wide."""
    d = means.shape[1]
    # The centre is the weighted mean of the means: it keeps |m_k| at the
    # scale of the data spread in bandwidths, whatever the data's offset.
    center = np.exp(log_weights - logsumexp(log_weights)) @ means
    white = (means - center) @ prec_chol
    radius = np.sqrt(np.einsum("ij,ij->i", white, white).max(initial=0.0))
    if radius <= COMPACT_RADIUS:
        origins = center[None, :]
        starts = np.array([0, means.shape[0]])
    else:
        # Cells of diameter GROUP_DIAMETER in the (approximate) global frame;
        # each group's frame origin is one of its members, so the members'
        # whitened offsets are computed from exact input-space differences.
        # Cell indices stay floats: data may span more bandwidths than int64.
        cells = np.floor(white * (np.sqrt(d) / GROUP_DIAMETER))
        _, inverse = np.unique(cells, axis=0, return_inverse=True)
        order = np.argsort(inverse.ravel(), kind="stable")
        counts = np.bincount(inverse.ravel())
        starts = np.concatenate([[0], np.cumsum(counts)])
        log_weights, means = log_weights[order], means[order]
        origins = means[starts[:-1]]
        white = (means - np.repeat(origins, counts, axis=0)) @ prec_chol
    return SharedPrecisionMixture(
        prec_chol=prec_chol,
        center=center,
        white_means=white,
        neg_logit_offset=0.5 * np.einsum("ij,ij->i", white, white) - log_weights,
        log_norm=float(np.log(np.diag(prec_chol)).sum() - 0.5 * d * _LOG_2PI),
        means=means,
        log_weights=log_weights,
        origins=origins,
        origins_white=(origins - center) @ prec_chol,
        group_starts=starts,
    )


def restrict_components(mixture, idx):
    """The shared-precision mixture of components ``idx`` only.

    Log-weights are kept, not renormalised. ``idx`` indexes the mixture's
    own (grouped) component order, as ``mixture.means`` lists them. A
    single-frame mixture keeps its frame (no component is whitened again);
    a grouped one is rebuilt from the subset, which is usually compact.
    """
    if mixture.n_groups == 1:
        return replace(
            mixture,
            white_means=mixture.white_means[idx],
            neg_logit_offset=mixture.neg_logit_offset[idx],
            means=mixture.means[idx],
            log_weights=mixture.log_weights[idx],
            group_starts=np.array([0, len(idx)]),
        )
    return _shared_mixture(
        mixture.log_weights[idx], mixture.means[idx], mixture.prec_chol
    )


#: Components probed per query to pick the exponent shift (see _shared_task).
_N_PROBE = 64

#: A block sum of kernel terms above this means the shift was too low (the
#: probe missed a much closer component): the block is redone with its own
#: maximum. Running sums are renormalised above _RENORMALISE.
_OVERFLOW = 1e200
_RENORMALISE = 1e100


def _n_moments(d, order):
    """Columns of the moment matrix: 1, then m (order 1), then m m^T's triangle."""
    return 1 + (d if order >= 1 else 0) + (d * (d + 1) // 2 if order >= 2 else 0)


#: Up to this many moments, one matrix-vector product per moment is cheaper
#: than one matrix product, which first copies (packs) the whole block.
_MAX_GEMV_MOMENTS = 3

#: Matrix products run fastest on a multiple of this many moment columns
#: (full BLAS register tiles); the extra columns are zero.
_MOMENT_ALIGN = 4


def _moment_rows(q):
    """Rows of the moment matrix for ``q`` moments, padding included."""
    return q if q <= _MAX_GEMV_MOMENTS else -(-q // _MOMENT_ALIGN) * _MOMENT_ALIGN


def _moment_matrix(M, order, out):
    """Rows ``1, m_k, triu(m_k m_k^T)`` (then zeros) for a block of whitened
    means ``M``; ``out`` has one column per component."""
    d = M.shape[1]
    out[0] = 1.0
    end = 1
    if order >= 1:
        out[1 : d + 1] = M.T
        end = d + 1
    if order >= 2:
        for i, j in zip(*np.triu_indices(d), strict=True):
            np.multiply(out[1 + i], out[1 + j], out=out[end])
            end += 1
    out[end:] = 0.0
    return out


def _moments(E, A, q):
    """First ``q`` moments ``E @ A.T`` of a block of kernel terms."""
    if A.shape[0] > _MAX_GEMV_MOMENTS:
        return (E @ A.T)[:, :q]
    S = np.empty((E.shape[0], q))
    for j in range(q):
        S[:, j] = E @ A[j]
    return S


def _shared_task(X, mix, order, plan):
    """Log f and its derivatives for a chunk of queries, shared precision.

    The kernel terms of a block of ``r`` queries and ``c`` components are
    ``exp(y . m_k - b_k - s(y))`` with ``b_k = |m_k|^2/2 - a_k`` and a shift
    ``s(y)``. One matrix product of the augmented rows ``[y, 1, -s]`` with
    the columns ``[m_k; -b_k; 1]`` writes them (shift included), ``exp`` runs
    in place, and one matrix product with the rows ``[1, m_k, triu(m_k
    m_k^T)]`` accumulates the zeroth, first and second moments. The block
    buffer is reused and sized to stay in cache
    (:func:`~skdensity._utils.plan_blocks`).

    The shift is the largest log-term over a probe of evenly spaced
    components: a lower bound of the maximum over all components, so the sum
    is at least 1 and never underflows. A block whose sum overflows (a
    component far closer than every probed one) is redone with its own
    maximum as the shift, and running sums are renormalised when they grow,
    so the result is the exact log-sum-exp whatever the query.
    """
    m, d = X.shape
    K = mix.n_components
    q = _n_moments(d, order)
    rb, cb = plan.row_block, plan.col_block
    # Rows padded to full BLAS tiles (see ROW_ALIGN); padding rows are zero.
    m_pad = -(-m // ROW_ALIGN) * ROW_ALIGN
    Yaug = np.zeros((m_pad, d + 2))
    np.einsum("ij,jk->ik", X - mix.center, mix.prec_chol, out=Yaug[:m, :d])
    Yaug[:, d] = 1.0
    probe = np.unique(np.linspace(0, K - 1, min(K, _N_PROBE)).astype(np.intp))
    probe_cols = np.vstack([mix.white_means[probe].T, -mix.neg_logit_offset[probe]])
    for r0 in range(0, m_pad, rb):
        rows = Yaug[r0 : r0 + rb]
        rows[:, d + 1] = -(rows[:, : d + 1] @ probe_cols).max(axis=1)
    acc = np.zeros((m_pad, q))
    cols = np.empty((d + 2, cb))
    moments = np.empty((_moment_rows(q), cb))
    buf = np.empty(rb * cb)
    for c0 in range(0, K, cb):
        c1 = min(K, c0 + cb)
        nc = c1 - c0
        M = mix.white_means[c0:c1]
        cols[:d, :nc] = M.T
        cols[d, :nc] = -mix.neg_logit_offset[c0:c1]
        cols[d + 1, :nc] = 1.0
        B = cols[:, :nc]
        A = _moment_matrix(M, order, moments[:, :nc])
        for r0 in range(0, m_pad, rb):
            r1 = min(m_pad, r0 + rb)
            E = buf[: (r1 - r0) * nc].reshape(r1 - r0, nc)
            np.matmul(Yaug[r0:r1], B, out=E)
            # An overflow here is caught below and the block redone.
            with np.errstate(over="ignore", invalid="ignore"):
                np.exp(E, out=E)
                S = _moments(E, A, q)
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


def _grouped_task(X, mix, order, plan):
    """Log f and its derivatives for a chunk of queries, grouped components.

    For data spanning many bandwidths the single frame of
    :func:`_shared_task` would lose precision like ``eps`` times the squared
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
    Xp = np.zeros((m_pad, d))
    Xp[:m] = X
    out = _empty_outputs(m_pad, d, order)
    for r0 in range(0, m_pad, plan.row_block):
        rows = slice(r0, min(m_pad, r0 + plan.row_block))
        _store(out, rows, _grouped_block(Xp[rows], mix, order, plan.col_block))
    return tuple(None if v is None else v[:m] for v in out)


#: Terms below exp(_NEGLIGIBLE) times the running sum cannot change it.
_NEGLIGIBLE = -92.0


def _grouped_block(Xb, mix, order, cb):
    n, d = Xb.shape
    U = mix.prec_chol
    q = _n_moments(d, order)
    n_tri = d * (d + 1) // 2
    # Approximate global-frame distances: enough to choose each query's
    # reference group and to bound which groups can matter.
    Yc = (Xb - mix.center) @ U
    ow = mix.origins_white
    dist2 = np.einsum("ij,ij->i", Yc, Yc)[:, None] - 2 * Yc @ ow.T
    dist2 += np.einsum("ij,ij->i", ow, ow)
    ref = np.argmin(dist2, axis=1)
    Oh = mix.origins[ref]
    Yh = (Xb - Oh) @ U
    lower = np.sqrt(np.maximum(dist2, 0.0)) - (GROUP_DIAMETER + 1.0)
    lower = 0.5 * np.maximum(lower, 0.0) ** 2
    starts = mix.group_starts
    max_logw = np.maximum.reduceat(mix.log_weights, starts[:-1])
    half_yh2 = 0.5 * np.einsum("ij,ij->i", Yh, Yh)
    shift = np.full(n, -np.inf)
    W = np.zeros(n)
    mean = np.zeros((n, d))
    M2 = np.zeros((n, n_tri))
    i_tri, j_tri = np.triu_indices(d)
    moments = np.empty((_moment_rows(q), cb))
    for g in np.argsort(lower.min(axis=0), kind="stable"):
        # Largest possible log-term of the group, relative to -|y_h|^2 / 2.
        bound = max_logw[g] - lower[:, g] + half_yh2
        if np.all(bound < shift + _NEGLIGIBLE):
            continue
        Yg = (Xb - mix.origins[g]) @ U
        D = (Oh - mix.origins[g]) @ U
        offset = -np.einsum("ij,ij->i", Yh, D) - 0.5 * np.einsum("ij,ij->i", D, D)
        for c0 in range(starts[g], starts[g + 1], cb):
            c1 = min(starts[g + 1], c0 + cb)
            M = mix.white_means[c0:c1]
            E = Yg @ M.T
            E -= mix.neg_logit_offset[c0:c1]
            E += offset[:, None]
            new = np.maximum(shift, E.max(axis=1))
            rescale = np.exp(shift - new)
            shift = new
            E -= shift[:, None]
            np.exp(E, out=E)
            A = _moment_matrix(M, order, moments[:, : c1 - c0])
            S = _moments(E, A, q)
            W *= rescale
            M2 *= rescale[:, None]
            _chan_update(W, mean, M2, S, Yg, order, i_tri, j_tri)
    log_f = np.log(W) + shift - half_yh2 + mix.log_norm
    if order == 0:
        return log_f, None, None
    grad = mean @ U.T
    if order == 1:
        return log_f, grad, None
    cov = np.zeros((n, d + n_tri))
    np.divide(M2, W[:, None], out=cov[:, d:])
    return log_f, grad, _hessians(cov, U)


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
    delta = block_mean - Y - mean[has]
    mean[has] += delta * (S0 / W_new)[:, None]
    if order == 1:
        return
    block_m2 = S[:, d + 1 :] - S0[:, None] * (
        block_mean[:, i_tri] * block_mean[:, j_tri]
    )
    block_m2 += (delta[:, i_tri] * delta[:, j_tri]) * (W_old * S0 / W_new)[:, None]
    M2[has] += block_m2


def _redo_with_own_max(Yaug, acc, rows, B, A):
    """Moments of a block for ``rows`` whose shift was too low: raise each
    row's shift to the block maximum, rescaling its running sums."""
    n = rows.size
    shift = -Yaug[rows, -1]
    # Padded to full tiles, so that a row's result does not depend on which
    # other rows are redone with it.
    lhs = np.zeros((-(-n // ROW_ALIGN) * ROW_ALIGN, Yaug.shape[1] - 1))
    lhs[:n] = Yaug[rows, :-1]
    logits = lhs @ B[:-1]
    new_shift = np.maximum(shift, logits[:n].max(axis=1))
    acc[rows] *= np.exp(shift - new_shift)[:, None]
    Yaug[rows, -1] = -new_shift
    logits[:n] -= new_shift[:, None]
    logits[n:] = -np.inf
    return _moments(np.exp(logits, out=logits), A, acc.shape[1])[:n]


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
    log_f += mix.log_norm
    if order == 0:
        return log_f[:m], None, None
    U = mix.prec_chol
    moments = acc[:, 1:] / s0[:, None]
    mean_m = moments[:, :d]
    grad = np.einsum("ij,kj->ik", mean_m - Y, U)
    if order == 1:
        return log_f[:m], grad[:m], None
    return log_f[:m], grad[:m], _hessians(moments, U)[:m]


#: Most rows of a block when turning moments into Hessians (a multiple of
#: ROW_ALIGN, so that the matrix products run on full tiles).
_FINISH_ROWS = 256


def _hessians(moments, U):
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


def _hessian_rows(moments, U):
    """``U (Cov_r(m) - I) U^T`` from the rows ``[mean m, triu E[m m^T]]``."""
    n = moments.shape[0]
    d = U.shape[0]
    mean_m = moments[:, :d]
    i, j = np.triu_indices(d)
    # Cov_r(m) - I on the triangle, then in full.
    tri = moments[:, d:] - mean_m[:, i] * mean_m[:, j]
    tri[:, i == j] -= 1.0
    cov = np.empty((n, d * d))
    cov[:, i * d + j] = tri
    cov[:, j * d + i] = tri
    # U C U^T as two flat products: T_k = C_k U^T, then T_k^T U^T, which is
    # (U C_k U^T)^T; symmetrised through the flat transpose permutation.
    T = (cov.reshape(n * d, d) @ U.T).reshape(n, d, d)
    hess = (T.transpose(0, 2, 1).reshape(n * d, d) @ U.T).reshape(n, d * d)
    hess += hess[:, np.arange(d * d).reshape(d, d).T.ravel()]
    hess *= 0.5
    return hess.reshape(n, d, d)


# ---------------------------------------------------------------------------
# Per-component path
# ---------------------------------------------------------------------------


def _component_residuals(X, mix):
    """Whitened residuals ``(x - mu_k) U_k``, shape (m, K, d).

    The offsets ``x - mu_k`` are formed in input space before whitening, so
    their precision does not depend on where the data sit.
    """
    diff = X[None, :, :] - mix.means[:, None, :]
    return np.matmul(diff, mix.prec_chol, out=diff).transpose(1, 0, 2)


def _component_logits(white, mix):
    """Log-density and responsibility logits of each query, from residuals.

    Returns ``log_f`` (m,) and the logits of the responsibilities relative
    to their row maximum (m, K). Where a squared norm overflows (a query
    ~1e154 bandwidths away), the norms are taken in units of the row's
    largest residual ``t`` (a power of 2, so the scaling is exact): the
    logits' differences ``-t^2 (s_k - s_min) / 2 + (c_k - c_min)`` are then
    finite or ``-inf``, so the responsibilities and the derivatives of
    ``log f`` stay right however far the query; ``log f`` itself is
    ``-inf`` when it is beyond float64.
    """
    logits = np.einsum("mkd,mkd->mk", white, white)
    huge = ~np.isfinite(logits).all(axis=1)
    logits *= -0.5
    logits += mix.log_norm
    log_f = logits.max(axis=1)
    with np.errstate(invalid="ignore"):  # -inf - -inf: huge rows, redone below
        logits -= log_f[:, None]
    if huge.any():
        w = white[huge]
        t = np.exp2(np.ceil(np.log2(np.abs(w).max(axis=(1, 2)))))[:, None]
        scaled = w / t[:, :, None]
        s = np.einsum("mkd,mkd->mk", scaled, scaled)
        k = np.argmin(s, axis=1)
        s_min = s[np.arange(k.size), k][:, None]
        c_min = mix.log_norm[k]
        with np.errstate(over="ignore"):
            rel = -0.5 * (((s - s_min) * t) * t)
            base = -0.5 * ((s_min[:, 0] * t[:, 0]) * t[:, 0]) + c_min
        rel += mix.log_norm - c_min[:, None]
        top = rel.max(axis=1)
        logits[huge] = rel - top[:, None]
        log_f[huge] = base + top
    return log_f, logits


def _component_task(X, mix, order, plan):
    """Log f and its derivatives for a chunk of queries, own precisions."""
    m, d = X.shape
    out = _empty_outputs(m, d, order)
    # Blocks padded to full BLAS tiles, as on the shared path (ROW_ALIGN).
    block = np.zeros((plan.row_block, d))
    for r0 in range(0, m, plan.row_block):
        rows = slice(r0, min(m, r0 + plan.row_block))
        n = rows.stop - r0
        n_pad = -(-n // ROW_ALIGN) * ROW_ALIGN
        block[:n] = X[rows]
        block[n:n_pad] = 0.0
        values = _component_block(block[:n_pad], mix, order)
        _store(out, rows, tuple(None if v is None else v[:n] for v in values))
    return out


def _component_block(X, mix, order):
    white = _component_residuals(X, mix)
    log_f, resp = _component_logits(white, mix)
    np.exp(resp, out=resp)
    total = resp.sum(axis=1)
    log_f += np.log(total)
    if order == 0:
        return log_f, None, None
    resp /= total[:, None]
    # g_k = P_k (mu_k - x) = -U_k U_k^T (x - mu_k) = -U_k w_k.
    g = np.matmul(white.transpose(1, 0, 2), mix.prec_chol.transpose(0, 2, 1))
    np.negative(g, out=g)
    g = g.transpose(1, 0, 2)  # (m, K, d)
    grad = np.einsum("mk,mkd->md", resp, g)
    if order == 1:
        return log_f, grad, None
    # Centred form: sum_k r_k (g_k - grad)(g_k - grad)^T - sum_k r_k P_k,
    # with sqrt(r_k) on each factor: a negligible component far away gives
    # 0 x (large), never 0 x inf.
    centred = g - grad[:, None, :]
    centred *= np.sqrt(resp)[:, :, None]
    hess = np.matmul(centred.transpose(0, 2, 1), centred)
    hess -= (resp @ mix.precisions.reshape(mix.n_components, -1)).reshape(hess.shape)
    return log_f, grad, _symmetrize(hess)


# ---------------------------------------------------------------------------
# Public entry points of the core
# ---------------------------------------------------------------------------


def _symmetrize(H):
    H += H.transpose(0, 2, 1)
    H *= 0.5
    return H


def _single_threaded(task, *args):
    # Also inside the workers of a process-based backend (loky, dask), which
    # the caller's BLAS limit does not reach; nested uses share one limit.
    with single_threaded_blas():
        return task(*args)


def _empty_outputs(m, d, order):
    return (
        np.empty(m),
        np.empty((m, d)) if order >= 1 else None,
        np.empty((m, d, d)) if order >= 2 else None,
    )


def _store(out, rows, values):
    for target, value in zip(out, values, strict=True):
        if target is not None:
            target[rows] = value


def log_density_derivatives(X, mixture, order=0, n_jobs=None):
    """Log-density of a Gaussian mixture and its first ``order`` derivatives.

    Parameters
    ----------
    X : ndarray of shape (m, d), float64
        Query points (already validated).
    mixture : SharedPrecisionMixture or ComponentPrecisionMixture
        From :func:`make_mixture`.
    order : {0, 1, 2}, default=0
        Highest derivative wanted.
    n_jobs : int, default=None
        Number of joblib workers over query chunks. Results do not depend on
        it: blocks are cut at the same rows whatever the number of workers.

    Returns
    -------
    log_f : ndarray of shape (m,)
    grad_log_f : ndarray of shape (m, d) or None
        ``None`` when ``order < 1``.
    hess_log_f : ndarray of shape (m, d, d) or None
        ``None`` when ``order < 2``.

    Notes
    -----
    Extra memory (outputs aside) stays within scikit-learn's
    ``working_memory``: a few cache-sized blocks of kernel terms plus
    per-query accumulators of a row chunk, whatever ``m`` and ``K`` are.
    """
    m = X.shape[0]
    K, d = mixture.n_components, mixture.n_features
    outputs = 8 * (1 + d + d * d)
    # The lower-order outputs are held throughout though the caller may
    # want only the highest one.
    reserved = 8 * m * (1 + d) if order == 2 else 8 * m * order
    if isinstance(mixture, SharedPrecisionMixture):
        # Per query: augmented row, moment sums, outputs and finishing
        # temporaries; per component of a block: its columns and moments.
        q = _n_moments(d, order)
        per_row = 8 * (d + 2 + q + _moment_rows(q) + _N_PROBE) + 4 * outputs
        per_col = 8 * (d + 2 + _moment_rows(q))
        task = _shared_task
        if mixture.n_groups > 1:
            # Per query also its frames, distances to every group and
            # running moments.
            per_row += 8 * (5 * d + mixture.n_groups + q)
            task = _grouped_task
        plan = plan_blocks(m, K, per_row, per_col, n_jobs=n_jobs, reserved=reserved)
    else:
        # One cell is a query row against all K components: (m, K, d) residuals
        # and derivatives, (m, K) log-probabilities and responsibilities.
        per_cell = 8 * K * (3 + 3 * d + d * d)
        plan = plan_blocks(
            m, 1, 4 * outputs, 0, per_cell, n_jobs=n_jobs, reserved=reserved
        )
        task = _component_task
    if len(plan.tasks) == 1:
        with single_threaded_blas():
            return task(X, mixture, order, plan)
    out = _empty_outputs(m, d, order)
    for_each_row_chunk(
        lambda Xc: _single_threaded(task, Xc, mixture, order, plan),
        X,
        plan.tasks,
        lambda rows, values: _store(out, rows, values),
        n_jobs=n_jobs,
    )
    return out


def responsibilities(X, mixture):
    """Posterior component probabilities ``r_k(x)``, shape (m, K).

    Components are in the mixture's own order (``mixture.means`` for a
    shared-precision mixture, which groups wide data). This is an
    ``m x K x d`` computation from explicit residuals: meant for mixtures
    with few components or few queries.
    """
    if isinstance(mixture, SharedPrecisionMixture):
        white = (X[:, None, :] - mixture.means[None, :, :]) @ mixture.prec_chol
        logits = -0.5 * np.einsum("mkd,mkd->mk", white, white) + mixture.log_weights
    else:
        _, logits = _component_logits(_component_residuals(X, mixture), mixture)
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def to_density_scale(log_f, grad_log_f=None, hess_log_f=None, *, overwrite=False):
    """Turn derivatives of ``log f`` into derivatives of ``f``.

    ``grad f = f grad log f`` and
    ``hess f = f (hess log f + grad log f grad log f^T)``.

    Parameters
    ----------
    log_f : ndarray of shape (m,)
    grad_log_f : ndarray of shape (m, d), default=None
    hess_log_f : ndarray of shape (m, d, d), default=None
    overwrite : bool, default=False
        Write the density-scale gradient and Hessian into ``grad_log_f`` and
        ``hess_log_f`` (for a caller that no longer needs them): the only
        temporary is gradient-sized. Otherwise the results are allocated too.

    Returns
    -------
    f : ndarray of shape (m,)
    grad_f : ndarray of shape (m, d) or None
    hess_f : ndarray of shape (m, d, d) or None
    """
    f = np.exp(log_f)
    hess = None
    if hess_log_f is not None:
        # f (H + g g^T) as f H + (sqrt(f) g)(sqrt(f) g)^T: where f underflows
        # to 0 and g g^T overflows (queries far away), 0, not 0 x inf.
        root_g = grad_log_f * np.sqrt(f)[:, None]
        hess = hess_log_f if overwrite else hess_log_f.copy()
        hess *= f[:, None, None]
        for i in range(hess.shape[1]):
            hess[:, i] += root_g[:, i, None] * root_g
    grad = None
    if grad_log_f is not None:
        grad = grad_log_f if overwrite else grad_log_f.copy()
        grad *= f[:, None]
    return f, grad, hess
