r"""Kernel functionals behind the bandwidth selectors: sums over pairs of points.

Every criterion the selectors minimise is built from double sums

.. math::

    \hat\psi_m(G) = n^{-2} \sum_{i,j} D^{\otimes m} \phi_G(X_i - X_j)

of Gaussian derivative kernels (Chacon & Duong 2018, ch. 5; Duong &
Hazelton 2003, 2005), or from their contraction with the identity,
:math:`Q_{2s}(\Sigma) = (\mathrm{vec}\, I_d)^{\otimes s\top} \hat\psi_{2s}
(\Sigma)`, the double sum of :math:`\Delta^s \phi_\Sigma` (R ks's ``Qr``).

* With an isotropic pilot :math:`G = g^2 I` the kernel factorises over the
  coordinates, so every partial derivative is a product of univariate
  Hermite polynomials: :math:`\partial^\alpha \phi_{g^2 I}(x) = (-1)^{|\alpha|}
  g^{-d-|\alpha|} \phi(y) \prod_a He_{\alpha_a}(y_a)`, :math:`y = x / g`.
  :func:`psi_isotropic` sums one product per distinct multi-index.
* With a full matrix :math:`\Sigma` (the criteria's :math:`H`, :math:`2H`,
  :math:`H + 2G`, ...), with :math:`P = \Sigma^{-1}`, :math:`z = P x`,
  :math:`t = \mathrm{tr}\, P`:
  :math:`\Delta \phi_\Sigma = \phi_\Sigma (z^\top z - t)` and
  :math:`\Delta^2 \phi_\Sigma = \phi_\Sigma ((z^\top z)^2 - 2 t z^\top z -
  4 z^\top P z + t^2 + 2 \mathrm{tr}\, P^2)`; :func:`laplacian_sum` sums them.

Pairs are visited once (the kernels are even): ``sum_ij = n k(0) + 2
sum_{i<j}``, in row blocks whose memory is bounded by scikit-learn's
``working_memory``.
"""

import itertools
import math

import numpy as np

from ._core import LOG_2PI, working_memory_bytes


def _row_block(n, floats_per_pair):
    """Rows per block so that one block's pair arrays fit ``working_memory``."""
    budget = working_memory_bytes()
    return int(max(1, min(n, budget // max(1, 8 * n * floats_per_pair))))


def pair_differences(X, floats_per_pair=8):
    """Yield ``X_i - X_j`` for ``i < j``, in blocks of bounded memory.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    floats_per_pair : int, default=8
        Floats the caller allocates per pair; sizes the blocks.

    Yields
    ------
    diff : ndarray of shape (n_pairs_in_block, d)
    """
    n, d = X.shape
    step = _row_block(n, d + floats_per_pair)
    for start in range(0, n - 1, step):
        stop = min(n - 1, start + step)
        rows = np.arange(start, stop)[:, None]
        later = np.arange(start, n)[None, :] > rows
        yield (X[start:stop, None, :] - X[None, start:, :])[later]


def multi_indices(d, order):
    """Distinct multi-indices of ``order`` over ``d`` coordinates, as counts.

    Returns
    -------
    counts : ndarray of int of shape (n_distinct, d)
    """
    combos = itertools.combinations_with_replacement(range(d), order)
    return np.array([np.bincount(c, minlength=d) for c in combos], dtype=int)


def full_tensor(counts, values, d):
    """Symmetric tensor of shape ``(d,) * order`` from its distinct entries."""
    order = int(counts[0].sum())
    lookup = {tuple(c): v for c, v in zip(counts, values, strict=True)}
    grid = np.indices((d,) * order).reshape(order, -1).T
    flat = [lookup[tuple(np.bincount(idx, minlength=d))] for idx in grid]
    return np.array(flat).reshape((d,) * order)


def _hermite(y, order):
    """Probabilists' Hermite polynomials ``He_0..He_order`` at ``y``."""
    out = np.empty((order + 1, *y.shape))
    out[0] = 1.0
    if order:
        out[1] = y
    for k in range(1, order):
        out[k + 1] = y * out[k] - k * out[k - 1]
    return out


def psi_isotropic(X, g, order, counts=None):
    r"""Distinct entries of :math:`\hat\psi_m(g^2 I)`, all pairs included.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    g : float
        Pilot standard deviation.
    order : int
        Even derivative order ``m``.
    counts : ndarray of int of shape (n_distinct, d), default=None
        Multi-indices wanted; None for all of ``order``.

    Returns
    -------
    counts : ndarray of int of shape (n_distinct, d)
        Multi-indices, as coordinate counts.
    psi : ndarray of shape (n_distinct,)
        :math:`n^{-2} \sum_{i,j} \partial^\alpha \phi_{g^2 I}(X_i - X_j)`.
    """
    n, d = X.shape
    if counts is None:
        counts = multi_indices(d, order)
    total = np.zeros(len(counts))
    for diff in pair_differences(X / g, floats_per_pair=(order + 2) * d):
        weight = np.exp(-0.5 * np.einsum("pd,pd->p", diff, diff))
        herm = _hermite(diff, order)
        for k, alpha in enumerate(counts):
            term = weight.copy()
            for a in range(d):
                if alpha[a]:
                    term *= herm[alpha[a], :, a]
            total[k] += term.sum()
    zero = _hermite(np.zeros(d), order)
    at_zero = np.array([np.prod(zero[alpha, np.arange(d)]) for alpha in counts])
    scale = np.exp(-0.5 * d * LOG_2PI - (d + order) * math.log(g)) / n**2
    return counts, scale * (2 * total + n * at_zero)


def laplacian_sum(X, sigma, s, include_diagonal=True):
    r"""Double sum of :math:`\Delta^s \phi_\Sigma(X_i - X_j)`, ks's ``Qr``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    sigma : ndarray of shape (d, d)
        Symmetric positive definite :math:`\Sigma`.
    s : {0, 1, 2}
        Power of the Laplacian (derivative order ``2 s``).
    include_diagonal : bool, default=True
        True: :math:`n^{-2} \sum_{i,j}`; False: :math:`(n(n-1))^{-1}
        \sum_{i \ne j}`.

    Returns
    -------
    value : float
    """
    n, d = X.shape
    prec = np.linalg.inv(sigma)
    prec = (prec + prec.T) / 2
    trace = np.trace(prec)
    trace_sq = np.sum(prec * prec)
    total = 0.0
    for diff in pair_differences(X, floats_per_pair=3 * d):
        z = diff @ prec
        weight = np.exp(-0.5 * np.einsum("pd,pd->p", z, diff))
        if s == 0:
            total += weight.sum()
            continue
        zz = np.einsum("pd,pd->p", z, z)
        if s == 1:
            total += weight @ (zz - trace)
        else:
            zpz = np.einsum("pd,pd->p", z @ prec, z)
            poly = zz * (zz - 2 * trace) - 4 * zpz + trace**2 + 2 * trace_sq
            total += weight @ poly
    at_zero = (1.0, -trace, trace**2 + 2 * trace_sq)[s]
    log_norm = -0.5 * (d * LOG_2PI + np.linalg.slogdet(sigma)[1])
    if include_diagonal:
        return math.exp(log_norm) * (2 * total + n * at_zero) / n**2
    return math.exp(log_norm) * 2 * total / (n * (n - 1))


def normal_derivative_tensor(order, sigma):
    r""":math:`D^{\otimes m} \phi_\Sigma(0)` as a full tensor (Isserlis).

    Parameters
    ----------
    order : int
        Even ``m``.
    sigma : ndarray of shape (d, d)

    Returns
    -------
    tensor : ndarray of shape ``(d,) * order``
    """
    d = len(sigma)
    prec = np.linalg.inv(sigma)
    sign, logdet = np.linalg.slogdet(sigma)
    tensor = np.array(math.exp(-0.5 * (d * LOG_2PI + logdet)))
    for m in range(2, order + 1, 2):
        # T_m[i1..im] = -sum_k P[i1, ik] T_{m-2}[the others]
        outer = np.multiply.outer(prec, tensor)
        tensor = -sum(np.moveaxis(outer, 1, k) for k in range(1, m))
    return tensor


def trace_pairs(tensor, n_pairs):
    """Contract ``n_pairs`` leading index pairs of ``tensor`` with the identity."""
    for _ in range(n_pairs):
        tensor = np.trace(tensor, axis1=0, axis2=1)
    return tensor


def quadratic_form_moment(r, A):
    r""":math:`\nu_r(A) = E[(Z^\top A Z)^r]`, :math:`Z \sim N(0, I)`.

    From the cumulants :math:`\kappa_p = 2^{p-1} (p-1)!\, \mathrm{tr}(A^p)`
    (Kan 2008; ks's ``nu``).
    """
    eig = np.linalg.eigvalsh((A + A.T) / 2)
    kappa = [
        2 ** (p - 1) * math.factorial(p - 1) * np.sum(eig**p) for p in range(1, r + 1)
    ]
    moments = [1.0]
    for m in range(1, r + 1):
        moments.append(
            sum(math.comb(m - 1, k) * kappa[k] * moments[m - 1 - k] for k in range(m))
        )
    return float(moments[r])


def odd_factorial(m):
    """``(m - 1)!!`` for even ``m``: ks's ``OF``."""
    return math.factorial(m) / (2 ** (m // 2) * math.factorial(m // 2))
