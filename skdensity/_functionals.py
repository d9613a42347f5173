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

#: Target bytes of one block of pair terms: a block is read by a matrix
#: product, then by a few element-wise passes, and stays in cache for them.
_CACHE_BLOCK_BYTES = 2**22


def pair_differences(X, floats_per_pair=8, budget=None):
    """Yield ``X_i - X_j`` for ``i < j``, in blocks of bounded memory.

    The pairs are cut into squares of rows against later rows, so that a
    block is one broadcast subtraction (only the squares on the diagonal
    keep their upper triangle).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    floats_per_pair : int, default=8
        Floats the caller allocates per pair; sizes the blocks.
    budget : int, default=None
        Bytes one block may take; None for scikit-learn's ``working_memory``.

    Yields
    ------
    diff : ndarray of shape (n_pairs_in_block, d)
    """
    n, d = X.shape
    budget = working_memory_bytes() if budget is None else budget
    step = max(1, math.isqrt(budget // (8 * (d + floats_per_pair))))
    for start in range(0, n, step):
        rows = X[start : start + step]
        first, second = np.triu_indices(len(rows), 1)
        yield rows[first] - rows[second]
        for later in range(start + step, n, step):
            yield (rows[:, None, :] - X[None, later : later + step, :]).reshape(-1, d)


class PairProducts:
    r"""Outer products :math:`x x^\top` of the pair differences of a sample.

    For every pair :math:`i < j`, :math:`x = X_i - X_j`; the upper triangle
    of :math:`x x^\top` is one row of ``d (d + 1) / 2`` numbers, so a
    quadratic form :math:`x^\top A x` of all pairs is one matrix product.
    The rows are computed once and kept when they take at most half of
    scikit-learn's ``working_memory`` (the criteria of the cross-validation
    selectors read them at every evaluation); otherwise they are recomputed
    block by block at each pass, in blocks of bounded memory.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    """

    def __init__(self, X):
        self.n, self.d = X.shape
        self._X = X
        self._rows, self._cols = np.triu_indices(self.d)
        self._double = np.where(self._rows == self._cols, 1.0, 2.0)
        width = len(self._rows)
        n_pairs = self.n * (self.n - 1) // 2
        self._cache = None
        if 8 * n_pairs * width <= working_memory_bytes() // 2:
            self._cache = np.concatenate(list(self._generate()))

    def _generate(self):
        # Products and the callers' per-pair temporaries (about 12 floats).
        floats = len(self._rows) + 12
        budget = min(working_memory_bytes(), _CACHE_BLOCK_BYTES)
        for diff in pair_differences(self._X, floats, budget):
            yield diff[:, self._rows] * diff[:, self._cols]

    def __iter__(self):
        """Yield blocks of rows, ndarray of shape (n_pairs_in_block, d (d+1)/2)."""
        if self._cache is None:
            yield from self._generate()
            return
        step = max(1, _CACHE_BLOCK_BYTES // (8 * (len(self._rows) + 12)))
        for start in range(0, len(self._cache), step):
            yield self._cache[start : start + step]

    def coefficients(self, matrices):
        """Columns ``c`` with ``row @ c = x^T A x``, one per symmetric ``A``.

        Returns
        -------
        coef : ndarray of shape (d (d + 1) / 2, n_matrices)
        """
        return np.stack([A[self._rows, self._cols] * self._double for A in matrices], 1)

    def unpack(self, upper):
        """Symmetric matrices from their upper triangles, ``(k, t) -> (t, d, d)``."""
        out = np.zeros((upper.shape[1], self.d, self.d))
        out[:, self._rows, self._cols] = upper.T
        out[:, self._cols, self._rows] = upper.T
        return out


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


def _isotropic_normaliser(n, d, g, order):
    r""":math:`(2\pi)^{-d/2} g^{-(d + m)} / n^2` for ``m = order``: what the
    ``m``-th derivatives of :math:`\phi_{g^2 I}` and the mean over the
    :math:`n^2` pairs put in front of sums over the differences divided by
    ``g``."""
    return np.exp(-0.5 * d * LOG_2PI - (d + order) * math.log(g)) / n**2


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
    budget = min(working_memory_bytes(), _CACHE_BLOCK_BYTES)
    floats = (order + 2) * d
    for diff in pair_differences(X / g, floats_per_pair=floats, budget=budget):
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
    scale = _isotropic_normaliser(n, d, g, order)
    return counts, scale * (2 * total + n * at_zero)


#: Grid points per axis of the binned functionals, by dimension (ks's
#: ``default.bgridsize``); ks bins up to four dimensions.
BINNED_GRIDSIZE = {1: 401, 2: 151, 3: 51, 4: 21}


def linear_binning(X, gridsize):
    """Linear binning of the sample onto a regular grid spanning its range.

    Each point gives its unit mass to the ``2^d`` corners of its grid cell,
    in proportion to the volume of the opposite sub-cell (Wand & Jones 1995,
    appendix D).

    Returns
    -------
    counts : ndarray of shape ``(gridsize,) * d``
    delta : ndarray of shape (d,)
        Grid spacing per axis.
    """
    n, d = X.shape
    lo, hi = X.min(axis=0), X.max(axis=0)
    delta = (hi - lo) / (gridsize - 1)
    position = (X - lo) / delta
    base = np.clip(np.floor(position).astype(np.intp), 0, gridsize - 2)
    frac = position - base
    counts = np.zeros(gridsize**d)
    for corner in itertools.product((0, 1), repeat=d):
        corner = np.array(corner)
        mass = np.prod(np.where(corner, frac, 1 - frac), axis=1)
        index = np.ravel_multi_index(tuple((base + corner).T), (gridsize,) * d)
        counts += np.bincount(index, weights=mass, minlength=gridsize**d)
    return counts.reshape((gridsize,) * d), delta


def psi_isotropic_binned(X, g, order, counts=None, gridsize=None):
    r"""Binned estimate of :math:`\hat\psi_m(g^2 I)` (ks's ``binned = TRUE``).

    The sample is replaced by its linear bin counts :math:`c` on a grid,
    so the double sum becomes :math:`n^{-2} \sum_{k, l} c_k c_l\,
    \partial^\alpha \phi_{g^2 I}(z_k - z_l)`. The kernel is a product over
    the coordinates, so the inner sum applies one Toeplitz matrix per axis:
    :math:`O(d\, M^{d+1})` for ``M`` points per axis, whatever ``n``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Data, ``d <= 4``.
    g : float
        Pilot standard deviation.
    order : int
        Even derivative order ``m``.
    counts : ndarray of int of shape (n_distinct, d), default=None
        Multi-indices wanted; None for all of ``order``.
    gridsize : int, default=None
        Grid points per axis; None for ks's default (:data:`BINNED_GRIDSIZE`).

    Returns
    -------
    counts : ndarray of int of shape (n_distinct, d)
    psi : ndarray of shape (n_distinct,)
    """
    n, d = X.shape
    if counts is None:
        counts = multi_indices(d, order)
    gridsize = BINNED_GRIDSIZE[d] if gridsize is None else gridsize
    bins, delta = linear_binning(X, gridsize)
    steps = np.arange(gridsize)
    factors = []
    for a in range(d):
        y = (steps[:, None] - steps[None, :]) * delta[a] / g
        herm = _hermite(y, int(counts[:, a].max()))
        factors.append(np.exp(-0.5 * y**2) * herm)
    psi = np.empty(len(counts))
    for k, alpha in enumerate(counts):
        smoothed = bins
        for a in range(d):
            smoothed = np.moveaxis(
                np.tensordot(factors[a][alpha[a]], smoothed, axes=(1, a)), 0, a
            )
        psi[k] = np.sum(bins * smoothed)
    scale = _isotropic_normaliser(n, d, g, order)
    return counts, scale * psi


def _laplacian_polynomial(s, q, t):
    r"""The factor :math:`p` of :math:`\Delta^s \phi_\Sigma = \phi_\Sigma\, p`.

    In the quadratic forms :math:`q_k = x^\top P^k x` (``q[k - 1]``) and the
    traces :math:`t_k = \mathrm{tr}\, P^k` (``t[k - 1]``).

    Returns
    -------
    p : ndarray or float
    dp_dq : dict
        ``{k: dp/dq_k}`` for the ``k >= 2`` that ``p`` depends on.
    dp_dt : dict
        ``{k: dp/dt_k}``.
    """
    if s == 0:
        return 1.0, {}, {}
    if s == 1:
        return q[1] - t[0], {2: 1.0}, {1: -1.0}
    q2, t1 = q[1], t[0]
    poly = q2 * (q2 - 2 * t1) - 4 * q[2] + t1**2 + 2 * t[1]
    return poly, {2: 2 * (q2 - t1), 3: -4.0}, {1: 2 * (t1 - q2), 2: 2.0}


def laplacian_sum(X, sigma, s, include_diagonal=True, gradient=False):
    r"""Double sum of :math:`\Delta^s \phi_\Sigma(X_i - X_j)`, ks's ``Qr``.

    With :math:`P = \Sigma^{-1}`, :math:`q_k = x^\top P^k x` and
    :math:`t_k = \mathrm{tr}\, P^k`, the summand is :math:`\phi_\Sigma(x)\,
    p(q, t)` (:func:`_laplacian_polynomial`). Its derivative in
    :math:`\Sigma` is a closed form too, from :math:`dP = -P\, d\Sigma\, P`:
    :math:`d \log\phi_\Sigma = \tfrac12 \mathrm{tr}((P x x^\top P - P)\,
    d\Sigma)`, :math:`dq_k = -\sum_{a=1}^k x^\top P^a\, d\Sigma\,
    P^{k+1-a} x`, :math:`dt_k = -k\, \mathrm{tr}(P^{k+1} d\Sigma)`, so the
    gradient needs only weighted sums of :math:`x x^\top` over the pairs.

    Parameters
    ----------
    X : ndarray of shape (n, d) or PairProducts
        The sample, or its pair products (reused across calls).
    sigma : ndarray of shape (d, d)
        Symmetric positive definite :math:`\Sigma`.
    s : {0, 1, 2}
        Power of the Laplacian (derivative order ``2 s``).
    include_diagonal : bool, default=True
        True: :math:`n^{-2} \sum_{i,j}`; False: :math:`(n(n-1))^{-1}
        \sum_{i \ne j}`.
    gradient : bool, default=False
        Also return the derivative with respect to :math:`\Sigma`.

    Returns
    -------
    value : float
    grad : ndarray of shape (d, d)
        Symmetric :math:`G` with :math:`d\,\mathrm{value} =
        \mathrm{tr}(G\, d\Sigma)`; only when ``gradient=True``.
    """
    pairs = X if isinstance(X, PairProducts) else PairProducts(X)
    n, d = pairs.n, pairs.d
    prec = np.linalg.inv(sigma)
    prec = (prec + prec.T) / 2
    powers = [np.eye(d), prec]
    for _ in range(s + 1):
        powers.append(powers[-1] @ prec)
    traces = [np.trace(powers[k]) for k in range(1, 3)]
    coef = pairs.coefficients(powers[1 : s + 2])
    at_zero, dq_zero, dt_zero = _laplacian_polynomial(s, np.zeros(3), traces)
    # Sums over the pairs i < j: of phi p, of phi dp/dt_k, of (phi p,
    # phi dp/dq_k) x x^T (as upper triangles).
    total = 0.0
    total_dt = dict.fromkeys(dt_zero, 0.0)
    moments = 0.0
    for products in pairs:
        q = (products @ coef).T
        weight = np.exp(-0.5 * q[0])
        poly, dq, dt = _laplacian_polynomial(s, q, traces)
        total += weight @ poly if s else weight.sum()
        if not gradient:
            continue
        for k, v in dt.items():
            total_dt[k] += weight @ v if np.ndim(v) else v * weight.sum()
        columns = [weight * poly] + [weight * v for v in dq.values()]
        moments = moments + products.T @ np.stack(columns, 1)
    sign_det, log_det = np.linalg.slogdet(sigma)
    norm = math.exp(-0.5 * (d * LOG_2PI + log_det))
    n_diag = n if include_diagonal else 0
    denom = n**2 if include_diagonal else n * (n - 1)
    value = norm * (2 * total + n_diag * at_zero) / denom
    if not gradient:
        return value
    scale = 2 * norm / denom
    grad = -0.5 * value * prec
    for k, v in dt_zero.items():
        grad -= k * powers[k + 1] * (scale * total_dt[k] + n_diag * v * norm / denom)
    mats = pairs.unpack(moments)
    grad += 0.5 * scale * prec @ mats[0] @ prec
    for mat, k in zip(mats[1:], dq_zero, strict=True):
        for a in range(1, k + 1):
            grad -= scale * powers[k + 1 - a] @ mat @ powers[a]
    return value, (grad + grad.T) / 2


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
