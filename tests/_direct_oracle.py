r"""Direct log-sum-exp oracle for Gaussian mixtures, with its own error bound.

For every (query, component) pair the residual :math:`x - \mu_k` is formed
explicitly in input space and whitened by that component's factor,
:math:`y_k = (x - \mu_k) U_k` (:math:`U_k U_k^\top = P_k`, upper triangular),
so no :math:`|y|^2 - 2 y\cdot m + |m|^2` cancellation occurs. Then

.. math::

    l_k = a_k + \log\det U_k - \tfrac d2 \log 2\pi - \tfrac12 |y_k|^2,
    \quad \log f = \mathrm{logsumexp}_k\, l_k, \quad r_k = e^{l_k - \log f},

    g_k = P_k(\mu_k - x) = -U_k y_k^\top, \quad \nabla\log f = \sum_k r_k g_k,
    \quad \nabla^2\log f = \sum_k r_k [(g_k - g)(g_k - g)^\top - P_k].

Error bound of the float64 evaluation (first order in the unit round-off
``u``, :func:`direct_log_derivatives` returns it per query). With
:math:`\gamma = (d + 3) u` and :math:`A_k = |x - \mu_k|\,|U_k|` (elementwise
absolute values), each whitened coordinate is within :math:`\gamma A_k` of
its exact value, so

.. math::

    |\delta l_k| \le e_k = \gamma\,(2 |y_k| \cdot A_k + |y_k|^2)
        + 2u\,|a_k + \log\det U_k|,

    |\delta \log f| \le \sum_k r_k e_k + 2u|\log f|,

and each responsibility has relative error at most :math:`e_k + |\delta\log
f|`. That is a few ulps of :math:`|\log f|` (times the condition of
:math:`U_k`), but for the derivatives it is not: far from the data
(:math:`|y| \gg 1`) the responsibilities of the float64 direct form carry
errors of order :math:`u|y|^2`, which the gradient multiplies by
:math:`|g_k - g|`. The bound tells the tests where the float64 oracle is not
10x more accurate than the tolerance; there they use the same formulas in
mpmath with enough digits to resolve :math:`|y|^2` (error below
:math:`10^{-30}` of every natural scale).
"""

import math

import mpmath
import numpy as np
from scipy.special import logsumexp

_U = np.finfo(np.float64).eps / 2
_LOG_2PI = math.log(2 * math.pi)


def _spectral_norms(prec_chols):
    return np.linalg.norm(prec_chols, ord=2, axis=(1, 2))


def direct_log_derivatives(Q, log_weights, means, prec_chols):
    """log f, grad log f, Hess log f and their float64 error bounds.

    Parameters
    ----------
    Q : ndarray of shape (m, d)
        Queries.
    log_weights : ndarray of shape (K,)
        Log-weights (``-inf`` drops a component; need not be normalised).
    means : ndarray of shape (K, d)
    prec_chols : ndarray of shape (K, d, d)
        Upper-triangular :math:`U_k`, :math:`U_k U_k^\\top = P_k`.

    Returns
    -------
    log_f, grad, hess : ndarray of shapes (m,), (m, d), (m, d, d)
    bounds : tuple of three ndarray of shape (m,)
        First-order bounds of the absolute errors of ``log_f``, of ``grad``
        (Euclidean norm) and of ``hess`` (Frobenius norm).
    """
    keep = log_weights > -np.inf
    a, M, U = log_weights[keep], means[keep], prec_chols[keep]
    m, d = Q.shape
    K = a.size
    c = a + np.log(np.diagonal(U, axis1=1, axis2=2)).sum(1) - 0.5 * d * _LOG_2PI
    gamma = (d + 3) * _U
    L = np.empty((m, K))
    G = np.empty((m, K, d))
    err_l = np.empty((m, K))
    err_g = np.empty((m, K))
    for k in range(K):
        R = Q - M[k]
        Y = R @ U[k]
        A = np.abs(R) @ np.abs(U[k])
        sq = np.einsum("ij,ij->i", Y, Y)
        L[:, k] = c[k] - 0.5 * sq
        G[:, k] = -(Y @ U[k].T)
        err_l[:, k] = gamma * (2 * np.einsum("ij,ij->i", np.abs(Y), A) + sq)
        err_l[:, k] += 2 * _U * abs(c[k])
        err_g[:, k] = np.linalg.norm((np.abs(Y) + A) @ np.abs(U[k]).T * gamma, axis=1)
    log_f = logsumexp(L, axis=1)
    r = np.exp(L - log_f[:, None])
    grad = np.einsum("mk,mkd->md", r, G)
    C = G - grad[:, None, :]
    P = U @ np.swapaxes(U, 1, 2)
    hess = np.einsum("mk,mki,mkj->mij", r, C, C) - np.einsum("mk,kij->mij", r, P)

    err_logf = np.einsum("mk,mk->m", r, err_l) + 2 * _U * np.abs(log_f)
    err_r = err_l + err_logf[:, None]  # relative error of each r_k
    norm_c = np.linalg.norm(C, axis=2)
    err_grad = np.einsum("mk,mk->m", r, err_r * norm_c + err_g)
    err_grad += 2 * d * _U * np.linalg.norm(grad, axis=1)
    norm_p = np.linalg.norm(P, axis=(1, 2))
    err_hess = np.einsum(
        "mk,mk->m",
        r,
        err_r * (norm_c**2 + norm_p) + 2 * norm_c * (err_g + err_grad[:, None]),
    )
    err_hess += gamma * np.einsum("mk,mk->m", r, norm_c**2 + norm_p)
    return log_f, grad, hess, (err_logf, err_grad, err_hess)


def _mp_array(values):
    return np.vectorize(mpmath.mpf, otypes=[object])(np.asarray(values, dtype=float))


def mp_log_derivatives(Q, log_weights, means, prec_chols):
    """The same formulas in mpmath, for queries where float64 is not enough.

    The working precision resolves :math:`|y|^2` with 40 digits to spare,
    so the result, rounded to float64, is exact to the last bit or two of
    every natural scale. Inputs are taken as exact binary numbers.

    Returns
    -------
    log_f, grad, hess : ndarray of float64, shapes (m,), (m, d), (m, d, d)
        ``log_f`` may be ``-inf`` where it is below the float64 range.
    """
    keep = log_weights > -np.inf
    a, M, U = log_weights[keep], means[keep], prec_chols[keep]
    m, d = Q.shape
    K = a.size
    spread = max(np.abs(Q).max(), np.abs(M).max()) * np.abs(U).max() + 1.0
    dps = 40 + 2 * math.ceil(math.log10(spread))
    exp = np.frompyfunc(mpmath.exp, 1, 1)
    with mpmath.workdps(dps):
        Qm, Mm, Um, am = (_mp_array(v) for v in (Q, M, U, a))
        log_det = [sum(mpmath.log(Um[k, j, j]) for j in range(d)) for k in range(K)]
        half_log_2pi = mpmath.log(2 * mpmath.pi) / 2
        L = np.empty((m, K), dtype=object)
        G = np.empty((m, K, d), dtype=object)
        for k in range(K):
            Y = (Qm - Mm[k]) @ Um[k]
            L[:, k] = am[k] + log_det[k] - d * half_log_2pi - (Y * Y).sum(1) / 2
            G[:, k] = -(Y @ Um[k].T)
        top = L.max(axis=1)
        log_f = np.array(
            [top[i] + mpmath.log(sum(exp(L[i] - top[i]))) for i in range(m)]
        )
        r = exp(L - log_f[:, None])
        grad = np.einsum("mk,mkd->md", r, G)
        C = G - grad[:, None, :]
        P = np.einsum("kij,klj->kil", Um, Um)
        hess = np.einsum("mk,mki,mkj->mij", r, C, C) - np.einsum("mk,kij->mij", r, P)
        to_float = np.vectorize(float, otypes=[np.float64])
        with np.errstate(over="ignore"):  # log f below -1.8e308 rounds to -inf
            return to_float(log_f), to_float(grad), to_float(hess)


def natural_scales(Q, log_weights, means, prec_chols):
    """Responsibility-weighted norms of U_k and P_k: the kernel scale at x.

    Returns
    -------
    u_scale, p_scale : ndarray of shape (m,)
        :math:`\\sum_k r_k \\|U_k\\|_2` and :math:`\\sum_k r_k \\|P_k\\|_2`,
        from float64 responsibilities (a scale needs no more accuracy).
    """
    keep = log_weights > -np.inf
    a, M, U = log_weights[keep], means[keep], prec_chols[keep]
    c = a + np.log(np.diagonal(U, axis1=1, axis2=2)).sum(1)
    L = np.stack(
        [c[k] - 0.5 * np.sum(((Q - M[k]) @ U[k]) ** 2, axis=1) for k in range(a.size)],
        axis=1,
    )
    r = np.exp(L - logsumexp(L, axis=1, keepdims=True))
    norms = _spectral_norms(U)
    return r @ norms, r @ norms**2
