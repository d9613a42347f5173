"""Per-component path: a mixture whose components have their own precisions.

See :mod:`skdensity._core` for the formulas.
"""

import numpy as np

from ._blocks import empty_outputs, store_rows


def symmetrize(H):
    H += H.transpose(0, 2, 1)
    H *= 0.5
    return H


def component_residuals(X, mix):
    """Whitened residuals ``(x - mu_k) U_k``, shape (m, K, d).

    The offsets ``x - mu_k`` are formed in input space before whitening, so
    their precision does not depend on where the data sit.
    """
    diff = X[None, :, :] - mix.means[:, None, :]
    return np.matmul(diff, mix.prec_chol, out=diff).transpose(1, 0, 2)


def component_logits(white, mix):
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
    logits += mix.log_coef
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
        c_min = mix.log_coef[k]
        with np.errstate(over="ignore"):
            rel = -0.5 * (((s - s_min) * t) * t)
            base = -0.5 * ((s_min[:, 0] * t[:, 0]) * t[:, 0]) + c_min
        rel += mix.log_coef - c_min[:, None]
        top = rel.max(axis=1)
        logits[huge] = rel - top[:, None]
        log_f[huge] = base + top
    return log_f, logits


def component_task(X, mix, order, plan):
    """Log f and its derivatives for a chunk of queries, own precisions."""
    m, d = X.shape
    out = empty_outputs(m, d, order)
    # Blocks padded to full BLAS tiles, as on the shared path (ROW_ALIGN).
    block = np.zeros((plan.row_block, d))
    for r0 in range(0, m, plan.row_block):
        rows = slice(r0, min(m, r0 + plan.row_block))
        n = rows.stop - r0
        n_pad = plan.padded(n)
        block[:n] = X[rows]
        block[n:n_pad] = 0.0
        values = _component_block(block[:n_pad], mix, order)
        store_rows(out, rows, tuple(None if v is None else v[:n] for v in values))
    return out


def _component_block(X, mix, order):
    white = component_residuals(X, mix)
    log_f, resp = component_logits(white, mix)
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
    return log_f, grad, symmetrize(hess)
