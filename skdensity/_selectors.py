r"""Bandwidth matrix selectors for densities and their derivatives (R ks parity).

Each selector returns the kernel covariance :math:`H` minimising an estimate
of the asymptotic mean integrated squared error of the ``r``-th derivative
estimate :math:`D^{\otimes r}\hat f`,

.. math::

    \mathrm{AMISE}_r(H) = n^{-1} |H|^{-1/2}\, \nu_r(H^{-1})\, 2^{-d-r}
        \pi^{-d/2} + \tfrac{(-1)^r}{4} \psi_{2r+4}^\top
        (\mathrm{vec}\, I_{d^r} \otimes \mathrm{vec}\, H \otimes
        \mathrm{vec}\, H),

with :math:`\nu_r(A) = E[(Z^\top A Z)^r]` (Chacon, Duong & Wand 2011). They
follow R ks 1.14 (``Hpi``, ``Hscv``, ``Hlscv`` and their ``.diag``
variants, ``binned = FALSE``) step by step: the data are pre-sphered (full
matrices) or pre-scaled (diagonal ones), the pilots are ks's defaults (SAMSE
for ``d = 2, r = 0``, the scalar derivative pilot of Chacon & Duong 2011
otherwise, two stages), the start is the normal-scale matrix, and the result
is transformed back. The optimiser works on the Cholesky factor of
:math:`H` (ks uses its symmetric square root; the minimiser is the same).

For one feature ks has scalar selectors of its own (``hpi``, ``hscv``,
``hlscv``, from the univariate literature), and the selectors here follow
them (``skdensity._selectors_1d``), except SCV for derivatives, which ks
does not offer in 1-D: there the multivariate algorithm at ``d = 1`` runs.
"""

import math
import warnings

import numpy as np
from scipy import linalg, optimize
from sklearn.utils import check_array

from ._bandwidth import _rule_covariance, normalize_weights
from ._core import check_sample_weight
from ._functionals import (
    BINNED_GRIDSIZE,
    PairProducts,
    full_tensor,
    laplacian_sum,
    multi_indices,
    normal_derivative_tensor,
    odd_factorial,
    psi_isotropic,
    psi_isotropic_binned,
    quadratic_form_moment,
    trace_pairs,
)
from ._selectors_1d import lscv_1d, plugin_1d, scv_1d

MAX_DERIV_ORDER = 2
#: The plug-in and SCV selectors build normal derivative tensors of order
#: 2r + 8 with d^(2r+8) entries; above this many they are refused (2^24
#: entries, 128 MiB, before the products that use them).
MAX_TENSOR_ENTRIES = 2**24


def _check_deriv_order(deriv_order, highest=MAX_DERIV_ORDER):
    if not (isinstance(deriv_order, (int, np.integer)) and 0 <= deriv_order <= highest):
        raise ValueError(
            f"deriv_order must be an integer in [0, {highest}] (the order of the "
            f"density derivative the bandwidth is tuned for); got {deriv_order!r}."
        )
    return int(deriv_order)


def _validated(X, deriv_order, name):
    """Checked float64 data and their normal-scale matrix (validates the data;
    errors name the selector ``name``).

    The normal-scale matrix goes through the rule bandwidths' checks: enough
    samples, no constant or collinear features, a representable kernel.
    """
    X = check_array(X, dtype=np.float64, ensure_min_samples=2)
    n, d = X.shape
    order = 2 * deriv_order + 8
    if name in ("plugin", "scv") and d > 1 and d**order > MAX_TENSOR_ENTRIES:
        raise ValueError(
            f"bandwidth={name!r} with deriv_order={deriv_order} estimates "
            f"density functionals through derivative tensors of order {order}, "
            f"{d}**{order} = {d**order:.2e} entries for {d} features, more "
            f"than the {MAX_TENSOR_ENTRIES:.2e} this selector allows. Use "
            f"'normal_scale' or 'scott' (any dimension), a lower deriv_order, "
            f"or fewer features (e.g. PCA first)."
        )
    weights = np.full(n, 1.0 / n)
    H = _rule_covariance("normal_scale", X, weights, None, deriv_order, name)[0]
    return X, H


def _sample_cov(X):
    return np.atleast_2d(np.cov(X, rowvar=False))


def _normal_scale(X, deriv_order):
    n, d = X.shape
    r = deriv_order
    return (4.0 / (n * (d + 2 * r + 2))) ** (2.0 / (d + 2 * r + 4)) * _sample_cov(X)


def _pre_transform(X, diagonal):
    """ks's pre-scaling (diagonal) or pre-sphering: ``X S^{-1/2}`` and ``S^{1/2}``."""
    S = _sample_cov(X)
    if diagonal:
        root = np.diag(np.sqrt(np.diag(S)))
    else:
        eigval, eigvec = linalg.eigh(S)
        root = (eigvec * np.sqrt(eigval)) @ eigvec.T
    return X @ np.linalg.inv(root), root


# --------------------------------------------------------------------------
# Pilots
# --------------------------------------------------------------------------


def _even(counts):
    return counts[np.all(counts % 2 == 0, axis=1)]


def _at(tensor, alpha):
    return tensor[tuple(np.repeat(np.arange(len(alpha)), alpha))]


def _samse_g(n, d, order, K, psi):
    """SAMSE-optimal scalar pilot (Duong & Hazelton 2003; ks's ``gsamse``)."""
    A1, A2, A3 = np.sum(K**2), np.sum(K * psi), np.sum(psi**2)
    B1, B2, B3 = (2 * order + 2 * d) * A1, (order + d - 2) * A2, A3
    gamma = (-B2 + math.sqrt(B2**2 + 4 * B1 * B3)) / (2 * B1)
    return (gamma * n) ** (-1.0 / (order + d + 2))


def _samse_pilot(Xs, order, psi_next=None):
    """Scalar SAMSE pilot for ``psi_order`` on pre-transformed data.

    ``psi_next`` (the estimated ``psi_{order+2}``, in ks's vector order) gives
    the second stage; None takes the normal-scale values (first stage).
    """
    n, d = Xs.shape
    S = _sample_cov(Xs)
    even = _even(multi_indices(d, order))
    K = np.array([_at(normal_derivative_tensor(order, np.eye(d)), a) for a in even])
    if psi_next is None:
        normal = normal_derivative_tensor(order + 2, 2 * S)
        psi = [sum(_at(normal, a + 2 * e) for e in np.eye(d, dtype=int)) for a in even]
    else:
        # ks 1.14 (gsamse) looks the entry for alpha + 2 e_j up by its row in
        # the list of distinct multi-indices (descending first count), but
        # reads that row number from the full vector of psi_{order+2}.
        # Reproduced for parity; it only affects d = 2, r = 0.
        flat = psi_next.ravel()
        psi = [
            sum(flat[order + 2 - (a + 2 * e)[0]] for e in np.eye(d, dtype=int))
            for a in even
        ]
    return _samse_g(n, d, order, K, np.array(psi))


def _psi_tensor(Xs, g, order, binned=False):
    psi = psi_isotropic_binned if binned else psi_isotropic
    counts, values = psi(Xs, g, order)
    return full_tensor(counts, values, Xs.shape[1])


def _dscalar_pilot(Xs, r, scv, binned=False):
    """Two-stage scalar pilot for ``psi_{2r+4}`` (ks's ``gdscalar``).

    Chacon & Duong (2011), bias-annihilating scalar pilot for derivatives.
    """
    n, d = Xs.shape
    S = _sample_cov(Xs)
    cf = (2.0**-d, 2.0 ** (-d / 2 + 1), 4.0) if scv else (1.0, 1.0, 1.0)
    normal = normal_derivative_tensor(2 * r + 8, 2 * S)
    B3 = float(np.sum(trace_pairs(normal, 1) ** 2))
    prod = math.prod(d + 2 * k for k in range(r + 4))
    nu = quadratic_form_moment(r + 4, np.linalg.inv(S))
    det_term = np.linalg.det(S) ** -0.5 * odd_factorial(2 * r + 6) * nu
    if scv:
        B1 = 2.0 ** (-2 * r - 5) * (4 * math.pi) ** -d * odd_factorial(2 * r + 6) * prod
        B2 = -(d + 2 * r + 4) * 2.0 ** (-2 * r - 6) * (4 * math.pi) ** -d * det_term
        B3 *= 4
    else:
        B1 = 2 * (2 * math.pi) ** -d * odd_factorial(2 * r + 6) * prod
        B2 = -(d + 2 * r + 4) * 2.0 ** (-d / 2 - r + 2) * (2 * math.pi) ** -d * det_term
    root = math.sqrt(B2**2 + 4 * B1 * B3)
    g2r6 = (2 * B1 / (-B2 + root)) ** (1 / (d + 2 * r + 8)) * n ** (
        -1 / (d + 2 * r + 8)
    )
    # eta_{2r+6}: the (r+3)-th Laplacian power, from the even entries.
    s = r + 3
    beta = multi_indices(d, s)
    psi_sum = psi_isotropic_binned if binned else psi_isotropic
    _, psi = psi_sum(Xs, g2r6, 2 * s, counts=2 * beta)
    multinomial = [
        math.factorial(s) / math.prod(math.factorial(b) for b in bb) for bb in beta
    ]
    eta = float(np.dot(multinomial, psi))
    L0 = (2 * math.pi) ** (-d / 2)
    of = odd_factorial(2 * r + 4)
    A1 = (
        cf[0]
        * (2 * d + 4 * r + 8)
        * L0**2
        * of
        * quadratic_form_moment(r + 2, np.eye(d))
    )
    A2 = cf[1] * (d + 2 * r + 2) * L0 * of * eta
    A3 = cf[2] * eta**2
    return (2 * A1 / ((-A2 + math.sqrt(A2**2 + 4 * A1 * A3)) * n)) ** (
        1 / (d + 2 * r + 6)
    )


def _psi_plugin(Xs, r, binned=False):
    """Estimated ``psi_{2r+4}`` (full tensor) with ks's default two-stage pilot."""
    d = Xs.shape[1]
    if d == 2 and r == 0:
        g6 = _samse_pilot(Xs, 6)
        g4 = _samse_pilot(Xs, 4, psi_next=_psi_tensor(Xs, g6, 6, binned))
        return _psi_tensor(Xs, g4, 4, binned)
    g = _dscalar_pilot(Xs, r, scv=False, binned=binned)
    return _psi_tensor(Xs, g, 2 * r + 4, binned)


# --------------------------------------------------------------------------
# Criteria
# --------------------------------------------------------------------------


def _variance_term(H, n, r, gradient=False):
    r""":math:`n^{-1} |H|^{-1/2} \nu_r(H^{-1}) 2^{-d-r} \pi^{-d/2}`, and its
    derivative in :math:`H` when ``gradient`` (with :math:`A = H^{-1}`,
    :math:`d \nu_1 = -\mathrm{tr}(A^2 dH)`, :math:`d \nu_2 =
    -\mathrm{tr}((2\, \mathrm{tr}(A) A^2 + 4 A^3) dH)`)."""
    d = len(H)
    A = np.linalg.inv(H)
    nu = quadratic_form_moment(r, A) if r else 1.0
    const = 2.0 ** (-d - r) * math.pi ** (-d / 2) / (n * math.sqrt(np.linalg.det(H)))
    if not gradient:
        return const * nu
    A2 = A @ A
    dnu = (np.zeros((d, d)), -A2, -2 * np.trace(A) * A2 - 4 * A2 @ A)[r]
    return const * nu, const * (dnu - 0.5 * nu * A)


def plugin_criterion(H, psi4, n, r, gradient=False):
    r"""Plug-in AMISE estimate (ks's ``Hpi`` criterion), and its gradient in H.

    ``psi4`` is :math:`\hat\psi_{2r+4}` traced ``r`` times with the identity.
    """
    half_grad = (-1) ** r / 2 * np.einsum("ijkl,kl->ij", psi4, H)
    bias = 0.5 * np.sum(half_grad * H)
    if not gradient:
        return _variance_term(H, n, r) + bias
    variance, dvariance = _variance_term(H, n, r, gradient=True)
    return variance + bias, dvariance + half_grad


def _as_pairs(X):
    """The :class:`PairProducts` of the data ``X``, or ``X`` if it is one."""
    return X if isinstance(X, PairProducts) else PairProducts(X)


def scv_criterion(H, X, G, r, gradient=False):
    """Smoothed cross-validation estimate of the MISE (ks's ``scv.mat``).

    ``X`` is the data or their :class:`PairProducts`; with ``gradient``, the
    derivative in H is returned too.
    """
    pairs = _as_pairs(X)
    sign = (-1) ** r
    if not gradient:
        terms = [laplacian_sum(pairs, S, r) for S in (2 * H + 2 * G, H + 2 * G, 2 * G)]
        bias = max(0.0, sign * (terms[0] - 2 * terms[1] + terms[2]))
        return _variance_term(H, pairs.n, r) + bias
    return _scv_with_gradient(H, pairs, G, r, laplacian_sum(pairs, 2 * G, r))


def _scv_with_gradient(H, pairs, G, r, pilot_term):
    """SCV and its gradient, the term of ``2 G`` alone (free of H) given."""
    sign = (-1) ** r
    v2, g2 = laplacian_sum(pairs, 2 * H + 2 * G, r, gradient=True)
    v1, g1 = laplacian_sum(pairs, H + 2 * G, r, gradient=True)
    variance, dvariance = _variance_term(H, pairs.n, r, gradient=True)
    bias = sign * (v2 - 2 * v1 + pilot_term)
    if bias <= 0:
        return variance, dvariance
    return variance + bias, dvariance + sign * (2 * g2 - 2 * g1)


def lscv_criterion(H, X, gradient=False):
    """Unbiased (least-squares) cross-validation criterion (ks's ``lscv.mat``).

    ``X`` is the data or their :class:`PairProducts`; with ``gradient``, the
    derivative in H is returned too.
    """
    pairs = _as_pairs(X)
    if not gradient:
        return laplacian_sum(pairs, 2 * H, 0) - 2 * laplacian_sum(
            pairs, H, 0, include_diagonal=False
        )
    v2, g2 = laplacian_sum(pairs, 2 * H, 0, gradient=True)
    v1, g1 = laplacian_sum(pairs, H, 0, include_diagonal=False, gradient=True)
    return v2 - 2 * v1, 2 * g2 - 2 * g1


# --------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------

#: Relative decrease of the criterion below which the search stops: R's
#: ``optim`` default ``reltol`` (sqrt of the machine epsilon), which ks uses.
_RELTOL = float(np.sqrt(np.finfo(float).eps))


def _minimise(criterion, H_start, diagonal):
    r"""Minimise over the Cholesky factor (log diagonal) of H, from ``H_start``.

    ``criterion(H)`` returns the value and its (symmetric) gradient in H.
    The gradient is carried to the parameters by the chain rule: with
    :math:`H = L L^\top`, :math:`\partial/\partial L = 2 G L` (lower
    triangle), times :math:`L_{ii}` on the log diagonal.
    """
    d = len(H_start)
    if diagonal:
        theta0 = 0.5 * np.log(np.diag(H_start))

        def to_matrix(theta):
            return np.diag(np.exp(2 * theta))

        def chain(theta, grad):
            return 2 * np.diag(grad) * np.exp(2 * theta)

    else:
        rows, cols = np.tril_indices(d)
        on_diag = rows == cols
        L0 = linalg.cholesky(H_start, lower=True)
        theta0 = L0[rows, cols].copy()
        theta0[on_diag] = np.log(theta0[on_diag])

        def factor(theta):
            L = np.zeros((d, d))
            L[rows, cols] = np.where(on_diag, np.exp(theta), theta)
            return L

        def to_matrix(theta):
            L = factor(theta)
            return L @ L.T

        def chain(theta, grad):
            L = factor(theta)
            dL = (2 * grad @ L)[rows, cols]
            return np.where(on_diag, dL * L[rows, cols], dL)

    scale = abs(criterion(H_start)[0]) or 1.0

    def objective(theta):
        value, grad = criterion(to_matrix(theta))
        return value / scale, chain(theta, grad) / scale

    result = optimize.minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"ftol": _RELTOL, "gtol": 1e-8},
    )
    return to_matrix(result.x)


def _transformed(select, X, diagonal, r):
    Xs, root = _pre_transform(X, diagonal)
    H = select(Xs, _normal_scale(Xs, r))
    H = root @ H @ root
    return (H + H.T) / 2


# --------------------------------------------------------------------------
# Public selectors
# --------------------------------------------------------------------------


def plugin_bandwidth(X, *, deriv_order=0, diagonal=False, binned=False):
    r"""Plug-in bandwidth matrix for the density or its derivatives (ks::Hpi).

    Minimises the AMISE of the ``deriv_order``-th derivative estimate with
    the integrated density functional :math:`\psi_{2r+4}` replaced by a
    kernel estimate (two pilot stages):

    .. math::

        \mathrm{PI}_r(H) = n^{-1} |H|^{-1/2} \nu_r(H^{-1}) 2^{-d-r}
            \pi^{-d/2} + \tfrac{(-1)^r}{4} \hat\psi_{2r+4}^\top
            (\mathrm{vec}\, I_{d^r} \otimes \mathrm{vec}\, H \otimes
            \mathrm{vec}\, H),

    :math:`\nu_r(A) = E[(Z^\top A Z)^r]`, :math:`Z \sim N(0, I_d)`. As
    ks 1.14 with ``binned = FALSE``: pre-sphered data (pre-scaled for
    ``diagonal=True``), the SAMSE pilot for ``d = 2, r = 0`` (Duong &
    Hazelton 2003) and the scalar derivative pilot of Chacon & Duong (2010)
    otherwise, minimised from the normal-scale matrix.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, more samples than features, none constant or collinear.
    deriv_order : {0, 1, 2}, default=0
        Derivative order ``r`` the bandwidth targets (0: the density).
    diagonal : bool, default=False
        Restrict :math:`H` to diagonal matrices (ks::Hpi.diag). No effect
        for one feature.
    binned : bool, default=False
        Estimate the functionals from linear bin counts on a grid (ks's
        ``binned = TRUE`` and its grid sizes: 401, 151, 51, 21 points per
        axis for 1 to 4 features): :math:`O(n)` instead of :math:`O(n^2)`,
        for large samples. The functionals then differ from the exact sums
        by about 0.1% (1-D), 1% (2-D), 5% (3-D) of their size, the
        matrix by less. Up to 4 features.

    Returns
    -------
    H : ndarray of shape (n_features, n_features)
        The kernel covariance.

    Raises
    ------
    ValueError
        Bad ``deriv_order``; data with NaN/inf, too few samples, constant or
        collinear features; ``binned`` with more than 4 features; one
        feature with a zero interquartile range (``deriv_order=0``).

    See Also
    --------
    normal_scale_bandwidth, scv_bandwidth, lscv_bandwidth

    Notes
    -----
    The double sums cost :math:`O(n^2)` once per pilot stage (no binning);
    the criterion is then a closed form, so the optimisation is cheap.

    For one feature (``d = 1``) the result is ks's ``hpi`` squared, a
    closed form (Wand & Jones 1995, section 3.6.1; Sheather & Jones 1991):

    .. math::

        h^2, \qquad h = \left(\frac{(2r+1)\, R(K^{(r)})}{(-1)^r
            \hat\psi_{2r+4}\, n}\right)^{1/(2r+5)},

    :math:`R(K^{(r)}) = (2r-1)!! / (2^{r+1} \sqrt\pi)`, with
    :math:`\hat\psi_{2r+4}` from two AMSE pilot stages started from a
    normal reference. For ``r = 0`` this is KernSmooth's ``dpik`` (which
    ks calls), its normal reference scaled by ``min(sd, IQR / 1.349)``,
    here with exact double sums: ``dpik`` always bins, and its binning
    drops the sample(s) at the maximum when rounding puts them past the
    last grid point (as on both Old Faithful columns: 0.9% and 0.6% on
    :math:`h^2`). For ``r >= 1``, ks's formula with the standard deviation.

    References
    ----------
    .. [1] Chacon, J. E. and Duong, T. (2018). *Multivariate Kernel
       Smoothing and Its Applications*. Chapman & Hall/CRC.
    .. [2] Chacon, J. E., Duong, T. and Wand, M. P. (2011). Asymptotics for
       general multivariate kernel density derivative estimators.
       *Statistica Sinica* 21, 807-840.
    .. [3] Duong, T. and Hazelton, M. L. (2003). Plug-in bandwidth matrices
       for bivariate kernel density estimation. *J. Nonparametric Statistics*
       15, 17-30.
    .. [4] Chacon, J. E. and Duong, T. (2010). Multivariate plug-in bandwidth
       selection with unconstrained pilot bandwidth matrices. *Test* 19,
       375-398.
    .. [5] Wand, M. P. and Jones, M. C. (1995). *Kernel Smoothing*. Chapman &
       Hall.
    .. [6] Sheather, S. J. and Jones, M. C. (1991). A reliable data-based
       bandwidth selection method for kernel density estimation. *J. Royal
       Statistical Society B* 53, 683-690.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity.bandwidth import plugin_bandwidth
    >>> X = np.random.default_rng(0).normal(size=(500, 2))
    >>> H = plugin_bandwidth(X, deriv_order=1)
    >>> H.shape
    (2, 2)
    """
    r = _check_deriv_order(deriv_order)
    X, _ = _validated(X, r, "plugin")
    n, d = X.shape
    if d == 1:
        return np.array([[plugin_1d(X[:, 0], r, binned) ** 2]])
    if binned and d > max(BINNED_GRIDSIZE):
        raise ValueError(
            f"binned=True bins at most {max(BINNED_GRIDSIZE)} features (a grid "
            f"per axis); X has {d}. Use binned=False (exact double sums)."
        )

    def select(Xs, H_start):
        psi = _psi_plugin(Xs, r, binned)
        psi4 = trace_pairs(psi, r)
        if diagonal and d == 2 and r == 0:
            return _samse_diagonal_2d(psi4, n)
        return _minimise(
            lambda H: plugin_criterion(H, psi4, n, r, gradient=True),
            H_start,
            diagonal,
        )

    return _transformed(select, X, diagonal, r)


def _samse_diagonal_2d(psi4, n):
    """Closed-form diagonal plug-in matrix for d = 2 (Wand & Jones 1994)."""
    psi40, psi22, psi04 = psi4[0, 0, 0, 0], psi4[0, 0, 1, 1], psi4[1, 1, 1, 1]
    RK = 1 / (4 * math.pi)
    h1 = (
        psi04**0.75 * RK / (psi40**0.75 * (math.sqrt(psi40 * psi04) + psi22) * n)
    ) ** (1 / 6)
    h2 = (psi40 / psi04) ** 0.25 * h1
    return np.diag([h1**2, h2**2])


def scv_bandwidth(X, *, deriv_order=0, diagonal=False):
    r"""Smoothed cross-validation bandwidth matrix (ks::Hscv).

    Minimises

    .. math::

        \mathrm{SCV}_r(H) = n^{-1} |H|^{-1/2} \nu_r(H^{-1}) 2^{-d-r}
            \pi^{-d/2} + (-1)^r n^{-2} \sum_{i,j} (\mathrm{vec}\,
            I_{d^r})^\top D^{\otimes 2r} (\phi_{2H + 2G} - 2 \phi_{H + 2G}
            + \phi_{2G})(X_i - X_j),

    the bias term clipped at zero as in ks, with the pilot :math:`G = g^2 I`
    on pre-sphered (pre-scaled for ``diagonal=True``) data: ks's
    ``gamse.scv`` pilot for ``d = 2, r = 0``, the scalar derivative pilot
    otherwise (Duong & Hazelton 2005; Chacon & Duong 2011).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, more samples than features, none constant or collinear.
    deriv_order : {0, 1, 2}, default=0
        Derivative order ``r`` the bandwidth targets.
    diagonal : bool, default=False
        Restrict :math:`H` to diagonal matrices (ks::Hscv.diag). No effect
        for one feature.

    Returns
    -------
    H : ndarray of shape (n_features, n_features)
        The kernel covariance.

    Raises
    ------
    ValueError
        Bad ``deriv_order`` or data (see :func:`plugin_bandwidth`).

    See Also
    --------
    plugin_bandwidth, lscv_bandwidth

    Notes
    -----
    Every criterion evaluation is an :math:`O(n^2)` double sum (row blocks
    bounded by ``working_memory``); it is the slowest selector here.

    For one feature and ``r = 0`` the result is ks's ``hscv`` squared
    (Jones, Marron & Park 1991): the pilot is tied to the bandwidth,
    :math:`g = C n^{-23/45} h^{-2}`, and the scalar criterion is minimised
    by Brent's method on :math:`[0.1, 2]` times the normal-scale
    bandwidth (``skdensity._selectors_1d.scv_1d``). ks has no 1-D
    SCV for derivatives (its ``Hscv`` refuses one column, ``hscv`` has no
    ``deriv.order``); for ``r >= 1`` the multivariate algorithm above runs
    at ``d = 1``: scaled data, the scalar derivative pilot of Chacon &
    Duong, the minimum found from the normal-scale value.

    References
    ----------
    .. [1] Chacon, J. E. and Duong, T. (2018). *Multivariate Kernel
       Smoothing and Its Applications*. Chapman & Hall/CRC.
    .. [2] Chacon, J. E., Duong, T. and Wand, M. P. (2011). Asymptotics for
       general multivariate kernel density derivative estimators.
       *Statistica Sinica* 21, 807-840.
    .. [3] Duong, T. and Hazelton, M. L. (2005). Cross-validation bandwidth
       matrices for multivariate kernel density estimation. *Scandinavian
       J. Statistics* 32, 485-506.
    .. [4] Wand, M. P. and Jones, M. C. (1995). *Kernel Smoothing*. Chapman &
       Hall.
    .. [5] Jones, M. C., Marron, J. S. and Park, B. U. (1991). A simple root n
       bandwidth selector. *Annals of Statistics* 19, 1919-1932.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity.bandwidth import scv_bandwidth
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> scv_bandwidth(X).shape
    (2, 2)
    """
    r = _check_deriv_order(deriv_order)
    X, _ = _validated(X, r, "scv")
    n, d = X.shape
    if d == 1 and r == 0:
        return np.array([[scv_1d(X[:, 0]) ** 2]])

    def select(Xs, H_start):
        if d == 2 and r == 0:
            g = _scv_samse_pilot(Xs)
        else:
            g = _dscalar_pilot(Xs, r, scv=True)
        G = g**2 * np.eye(d)
        pairs = PairProducts(Xs)
        pilot_term = laplacian_sum(pairs, 2 * G, r)
        return _minimise(
            lambda H: _scv_with_gradient(H, pairs, G, r, pilot_term),
            H_start,
            diagonal,
        )

    return _transformed(select, X, diagonal, r)


def _scv_samse_pilot(Xs):
    """ks's ``gamse.scv`` pilot, from a one-stage plug-in ``H_amise``."""
    n, d = Xs.shape
    Xss, root = _pre_transform(Xs, diagonal=False)
    psi4 = _psi_tensor(Xss, _samse_pilot(Xss, 4), 4)
    H_amise = _minimise(
        lambda H: plugin_criterion(H, psi4, n, 0, gradient=True),
        _normal_scale(Xss, 0),
        False,
    )
    H_amise = root @ H_amise @ root
    psi6 = _psi_tensor(Xs, _samse_pilot(Xs, 6), 6)
    eye = np.eye(d)
    c11 = 0.25 * np.einsum("aijklb,ac,bd,cijkld->", psi6, H_amise, H_amise, psi6)
    c12 = (
        0.75
        * (4 * math.pi) ** (-d / 2)
        * np.einsum("abcdef,ad,be,cf->", psi6, H_amise, eye, H_amise)
    )
    tr = np.trace(H_amise)
    c22 = (4 * math.pi) ** -d / 64 * (4 * np.sum(H_amise * H_amise) + (d + 8) * tr**2)
    num = 2 * (d + 4) * c22
    den = -(d + 2) * c12 + math.sqrt((d + 2) ** 2 * c12**2 + 8 * (d + 4) * c11 * c22)
    return (num / (den * n)) ** (1 / (d + 6))


def lscv_bandwidth(X, *, diagonal=False):
    r"""Least-squares (unbiased) cross-validation bandwidth matrix (ks::Hlscv).

    Minimises

    .. math::

        \mathrm{LSCV}(H) = n^{-2} \sum_{i,j} \phi_{2H}(X_i - X_j)
            - \frac{2}{n(n-1)} \sum_{i \ne j} \phi_H(X_i - X_j),

    an unbiased estimate of the MISE minus :math:`\int f^2`, from the
    normal-scale matrix, on the data as given (no pre-transformation).
    Duplicated rows make the criterion unbounded below as :math:`H \to 0`;
    a warning says so (as ks does).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, more samples than features, none constant or collinear.
    diagonal : bool, default=False
        Restrict :math:`H` to diagonal matrices (ks::Hlscv.diag). No effect
        for one feature.

    Returns
    -------
    H : ndarray of shape (n_features, n_features)
        The kernel covariance.

    Warns
    -----
    UserWarning
        When ``X`` has duplicated rows.

    See Also
    --------
    plugin_bandwidth, scv_bandwidth

    Notes
    -----
    The criterion can have several local minima; the optimiser (L-BFGS-B
    on the Cholesky factor) starts from the normal-scale matrix, as ks does.

    For one feature the result is ks's exact ``hlscv`` squared
    (``binned = FALSE, bw.ucv = FALSE``): Brent's method on the interval
    from the smallest positive distance between two samples to twice the
    normal-scale bandwidth, which decides the local minimum found
    (``skdensity._selectors_1d.lscv_1d``; ks's default ``hlscv`` calls
    ``stats::bw.ucv``, an approximation with binned distances).

    References
    ----------
    .. [1] Chacon, J. E. and Duong, T. (2018). *Multivariate Kernel
       Smoothing and Its Applications*. Chapman & Hall/CRC.
    .. [2] Chacon, J. E., Duong, T. and Wand, M. P. (2011). Asymptotics for
       general multivariate kernel density derivative estimators.
       *Statistica Sinica* 21, 807-840.
    .. [3] Duong, T. and Hazelton, M. L. (2005). Cross-validation bandwidth
       matrices for multivariate kernel density estimation. *Scandinavian
       J. Statistics* 32, 485-506.
    .. [4] Wand, M. P. and Jones, M. C. (1995). *Kernel Smoothing*. Chapman &
       Hall.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity.bandwidth import lscv_bandwidth
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> lscv_bandwidth(X).shape
    (2, 2)
    """
    X, H_start = _validated(X, 0, "lscv")
    if len(np.unique(X, axis=0)) < len(X):
        warnings.warn(
            "X contains duplicated rows: least-squares cross-validation is not "
            "well behaved then (it favours a kernel covariance shrinking to "
            "zero). Consider plugin_bandwidth or scv_bandwidth.",
            UserWarning,
            stacklevel=2,
        )
    if X.shape[1] == 1:
        return np.array([[lscv_1d(X[:, 0]) ** 2]])
    pairs = PairProducts(X)
    H = _minimise(lambda H: lscv_criterion(H, pairs, gradient=True), H_start, diagonal)
    return (H + H.T) / 2


def normal_scale_bandwidth(X, *, deriv_order=0, sample_weight=None):
    r"""Normal-scale bandwidth matrix for the density or its derivatives (ks::Hns).

    The AMISE-optimal :math:`H` of the ``r``-th derivative estimate when the
    data are normal with the sample covariance :math:`S` (Chacon, Duong &
    Wand 2011):

    .. math::

        H = \left(\frac{4}{n (d + 2r + 2)}\right)^{2/(d + 2r + 4)} S .

    For ``r = 0`` this is Silverman's rule in full-matrix form. :math:`S` is
    the unbiased sample covariance (R's ``var``); with ``sample_weight``,
    the reliability-weighted covariance and :math:`n_{\mathrm{eff}} = 1 /
    \sum_i w_i^2` replace :math:`S` and :math:`n` (as
    :class:`scipy.stats.gaussian_kde`).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, more samples (with positive weight) than features.
    deriv_order : {0, 1, 2}, default=0
        Derivative order ``r`` the bandwidth targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights, not all zero.

    Returns
    -------
    H : ndarray of shape (n_features, n_features)
        The kernel covariance.

    Raises
    ------
    ValueError
        Bad ``deriv_order``, weights or data (too few samples, constant or
        collinear features).

    See Also
    --------
    plugin_bandwidth : Targets the data's own curvature, not a normal's.

    References
    ----------
    .. [1] Chacon, J. E., Duong, T. and Wand, M. P. (2011). Asymptotics for
       general multivariate kernel density derivative estimators.
       *Statistica Sinica* 21, 807-840.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity.bandwidth import normal_scale_bandwidth
    >>> X = np.random.default_rng(0).normal(size=(100, 1))
    >>> H = normal_scale_bandwidth(X, deriv_order=1)
    >>> bool(np.isclose(H[0, 0], (4 / (100 * 5)) ** (2 / 7) * X.var(ddof=1)))
    True
    """
    r = _check_deriv_order(deriv_order)
    X = check_array(X, dtype=np.float64, ensure_min_samples=2)
    weights = check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    weights = normalize_weights(weights)
    return _rule_covariance("normal_scale", X, weights, None, r)[0]
