r"""One-feature bandwidth selectors: R ks's ``hpi``, ``hscv`` and ``hlscv``.

For one feature ks does not run its matrix selectors (``Hpi`` and ``Hscv``
refuse a single column); its scalar selectors follow the classical
univariate literature instead, and so do these functions. They return the
bandwidth :math:`h` (the kernel's standard deviation; the selectors in
:mod:`skdensity.bandwidth` return :math:`H = h^2`).

Notation: :math:`\phi_g` is the :math:`N(0, g^2)` density, :math:`K = \phi`
the kernel (:math:`\mu_2(K) = 1`), :math:`R(K^{(r)}) = \int (\phi^{(r)})^2
= (2r-1)!!\, /\, (2^{r+1} \sqrt\pi)` and

.. math::

    \hat\psi_m(g) = n^{-2} \sum_{i,j} \phi_g^{(m)}(X_i - X_j)

the kernel estimate of :math:`\psi_m = \int f^{(m)} f` (even :math:`m`;
the diagonal :math:`i = j` included, which keeps its sign
:math:`(-1)^{m/2}` for every :math:`g`). Its AMSE-optimal pilot, given
:math:`\psi_{m+2}`, is (Wand & Jones 1995, eq. 3.7; Sheather & Jones 1991)

.. math::

    g_m = \left(\frac{2 K^{(m)}(0)}{-\psi_{m+2}\, n}\right)^{1/(m+3)},
    \qquad K^{(m)}(0) = \frac{(-1)^{m/2} (m-1)!!}{\sqrt{2\pi}},

and a normal reference :math:`N(\mu, \sigma^2)` gives :math:`\psi_m =
(-1)^{m/2} m! / ((2\sigma)^{m+1} (m/2)! \sqrt\pi)` (ks's ``psins.1d``).
All computations run on the standardised data :math:`Z_i = (X_i - \bar X)
/ s` (so :math:`\sigma = 1` there) and :math:`h = s\, h_Z`; the selectors
are equivariant, and this keeps them accurate for data at any offset and
scale.

The double sums go through :func:`~skdensity._functionals.psi_isotropic`
and :func:`~skdensity._functionals.laplacian_sum` (row blocks bounded by
``working_memory``).

References
----------
.. [1] Wand, M. P. and Jones, M. C. (1995). *Kernel Smoothing*. Chapman &
   Hall, sections 3.6 (plug-in) and 3.7 (smoothed cross-validation).
.. [2] Sheather, S. J. and Jones, M. C. (1991). A reliable data-based
   bandwidth selection method for kernel density estimation. *J. Royal
   Statistical Society B* 53, 683-690.
.. [3] Jones, M. C., Marron, J. S. and Park, B. U. (1991). A simple root n
   bandwidth selector. *Annals of Statistics* 19, 1919-1932.
.. [4] Duong, T. ks: Kernel Smoothing. R package, version 1.14 (``hpi``,
   ``hscv``, ``hlscv``); Wand, M. P. KernSmooth, R package (``dpik``).
"""

import math

import numpy as np
from scipy import optimize

from ._functionals import (
    PairProducts,
    laplacian_sum,
    odd_factorial,
    psi_isotropic,
    psi_isotropic_binned,
)

#: KernSmooth's normalisation of the interquartile range (that of N(0, 1)).
_IQR_NORMAL = 1.349

#: Brent's search stops when the bracket is within sqrt(eps) relative (the
#: floor of scipy's and R's ``optimize``) plus this many units of the upper
#: end: ks's ``hlscv`` asks for machine precision.
_BRENT_XATOL = float(np.finfo(float).eps)


def kernel_derivative_at_zero(order):
    r""":math:`\phi^{(m)}(0) = (-1)^{m/2} (m-1)!! / \sqrt{2\pi}`, even ``m``.

    >>> from scipy.stats import norm
    >>> bool(abs(kernel_derivative_at_zero(2) + norm.pdf(0)) < 1e-16)
    True
    """
    return (-1) ** (order // 2) * odd_factorial(order) / math.sqrt(2 * math.pi)


def psi_normal_scale(order, sigma=1.0):
    r""":math:`\psi_m` of a normal density with standard deviation ``sigma``.

    .. math::

        \psi_m = \frac{(-1)^{m/2}\, m!}{(2\sigma)^{m+1} (m/2)!\, \sqrt\pi}
        \quad (m \text{ even})

    (ks's ``psins.1d``; Wand & Jones 1995, section 3.5).

    Examples
    --------
    :math:`\psi_4 = \int (f'')^2 = 3 / (8 \sqrt\pi \sigma^5)`:

    >>> import math
    >>> bool(abs(psi_normal_scale(4) - 3 / (8 * math.sqrt(math.pi))) < 1e-15)
    True
    """
    m = order
    return (
        (-1) ** (m // 2)
        * math.factorial(m)
        / ((2 * sigma) ** (m + 1) * math.factorial(m // 2) * math.sqrt(math.pi))
    )


def amse_pilot(order, psi_next, n):
    r"""AMSE-optimal pilot :math:`g_m` for :math:`\hat\psi_m`, given
    :math:`\psi_{m+2}` (see the module notes)."""
    return (2 * kernel_derivative_at_zero(order) / (-psi_next * n)) ** (1 / (order + 3))


def psi_hat(z, g, order, binned=False):
    r""":math:`\hat\psi_m(g)` of a 1-D sample ``z`` (all pairs), optionally from
    linear bin counts on 401 grid points."""
    psi = psi_isotropic_binned if binned else psi_isotropic
    return float(psi(z[:, None], g, order)[1][0])


def _standardised(x, scale):
    return (x - x.mean()) / scale


def _sd_standardised(x):
    """The sample in units of its standard deviation, that deviation, and
    ks's normal-scale bandwidth of such data, :math:`(4 / (3n))^{1/5}`, from
    which hscv and hlscv set their search intervals."""
    scale = np.std(x, ddof=1)
    return _standardised(x, scale), scale, (4 / (3 * len(x))) ** 0.2


def _robust_scale(x, name):
    """KernSmooth's ``scalest = "minim"``: ``min(sd, IQR / 1.349)``."""
    q1, q3 = np.percentile(x, [25, 75])  # R's quantile type 7
    scale = min(np.std(x, ddof=1), (q3 - q1) / _IQR_NORMAL)
    if not scale > 0:
        raise ValueError(
            f"bandwidth={name!r} for the density of one feature (KernSmooth's "
            f"dpik, as ks::hpi) scales the data by min(sd, IQR / 1.349), and "
            f"the interquartile range of X is zero (at least half of the "
            f"samples share one value). Use scv_bandwidth or "
            f"normal_scale_bandwidth (bandwidth='scv' or 'normal_scale')."
        )
    return scale


def plugin_1d(x, deriv_order=0, binned=False, name="plugin"):
    r"""Two-stage direct plug-in bandwidth of one feature (ks::hpi).

    Parameters
    ----------
    x : ndarray of shape (n,)
        The sample, not constant.
    deriv_order : int, default=0
        Derivative order ``r`` the bandwidth targets.
    binned : bool, default=False
        Functionals from linear bin counts on 401 grid points instead of
        exact double sums.
    name : str, default="plugin"
        The bandwidth the user asked for, named in errors.

    Returns
    -------
    h : float
        The bandwidth (kernel standard deviation).

    Raises
    ------
    ValueError
        For ``r = 0``, when the interquartile range of ``x`` is zero.

    Notes
    -----
    The AMISE-optimal bandwidth of the ``r``-th derivative estimate
    (Wand & Jones 1995, section 3.6.1; Sheather & Jones 1991),

    .. math::

        h = \left(\frac{(2r+1)\, R(K^{(r)})}{\mu_2(K)^2\, (-1)^r
            \hat\psi_{2r+4}\, n}\right)^{1/(2r+5)},

    with :math:`\hat\psi_{2r+4}` from two pilot stages: the normal
    reference gives :math:`\psi_{2r+8}`, then :math:`\hat\psi_{2r+6}(
    g_{2r+6})` and :math:`\hat\psi_{2r+4}(g_{2r+4})` with the AMSE pilots.
    The normal reference scale is :math:`\min(s, \mathrm{IQR} / 1.349)`
    for ``r = 0`` (KernSmooth's ``dpik``, which ks's ``hpi`` calls, with its
    default ``scalest = "minim"``) and the standard deviation :math:`s` for
    ``r >= 1`` (ks's own formula in ``hpi``).

    Examples
    --------
    Equivariant: moving and scaling the data scales :math:`h`.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=200)
    >>> bool(np.isclose(plugin_1d(3 * x + 100), 3 * plugin_1d(x), rtol=1e-12))
    True
    """
    r = deriv_order
    n = len(x)
    scale = _robust_scale(x, name) if r == 0 else np.std(x, ddof=1)
    z = _standardised(x, scale)
    psi = psi_normal_scale(2 * r + 8)
    for order in (2 * r + 6, 2 * r + 4):
        psi = psi_hat(z, amse_pilot(order, psi, n), order, binned)
    roughness = odd_factorial(2 * r) / (2 ** (r + 1) * math.sqrt(math.pi))
    h = ((2 * r + 1) * roughness / ((-1) ** r * psi * n)) ** (1 / (2 * r + 5))
    return scale * h


def _brent(criterion, lower, upper):
    """Brent's bounded minimiser (R's ``optimize``; scipy's ``fminbound``)."""
    result = optimize.minimize_scalar(
        criterion,
        bounds=(lower, upper),
        method="bounded",
        options={"xatol": _BRENT_XATOL * upper},
    )
    return float(result.x)


def _kernel_sum(pairs, variance, include_diagonal=True):
    sigma = np.array([[variance]])
    return laplacian_sum(pairs, sigma, 0, include_diagonal=include_diagonal)


def scv_1d(x):
    r"""Smoothed cross-validation bandwidth of one feature (ks::hscv).

    Parameters
    ----------
    x : ndarray of shape (n,)
        The sample, not constant.

    Returns
    -------
    h : float
        The bandwidth (kernel standard deviation).

    Notes
    -----
    Minimises (Jones, Marron & Park 1991; Wand & Jones 1995, section 3.7)

    .. math::

        \mathrm{SCV}(h) = \frac{R(K)}{n h} + \max\Big(0,\ n^{-2}
            \sum_{i,j} \big(\phi_{\sqrt{2h^2 + 2g^2}} - 2
            \phi_{\sqrt{h^2 + 2g^2}} + \phi_{\sqrt 2 g}\big)(X_i - X_j)
            \Big)

    with the pilot tied to :math:`h`, :math:`g = C n^{-23/45} h^{-2}`,

    .. math::

        C = \left(\frac{441}{64 \pi}\right)^{1/18} (4\pi)^{-1/5}\,
            \hat\psi_4^{-2/5}\, \hat\psi_8^{-1/9},

    :math:`\hat\psi_4(g_4)`, :math:`\hat\psi_8(g_8)` from AMSE pilots on
    :math:`\hat\psi_6(g_6)`, :math:`\hat\psi_{10}(g_{10})`, whose pilots
    take the normal reference with the standard deviation :math:`s` (ks's
    ``nstage = 2``). The search is Brent's on ks's interval
    :math:`[0.1, 2]\, h_{NS}`, :math:`h_{NS} = (4 / (3n))^{1/5} s`.

    ks stops its search at R ``optimize``'s default absolute tolerance
    (:math:`\epsilon^{1/4} \approx 1.2 \cdot 10^{-4}` in data units, not
    scale-equivariant); this continues the same Brent steps to
    :math:`\sqrt\epsilon` relative.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=200)
    >>> bool(np.isclose(scv_1d(1e-3 * x - 5), 1e-3 * scv_1d(x), rtol=1e-6))
    True
    """
    n = len(x)
    z, scale, h_ns = _sd_standardised(x)

    def stage(order):
        psi_next = psi_hat(
            z, amse_pilot(order + 2, psi_normal_scale(order + 4), n), order + 2
        )
        return psi_hat(z, amse_pilot(order, psi_next, n), order)

    psi4, psi8 = stage(4), stage(8)
    C = (
        (441 / (64 * math.pi)) ** (1 / 18)
        * (4 * math.pi) ** -0.2
        * psi4**-0.4
        * psi8 ** (-1 / 9)
    )
    pairs = PairProducts(z[:, None])
    variance_const = 1 / (2 * math.sqrt(math.pi) * n)

    def criterion(h):
        g2 = (C * n ** (-23 / 45) / h**2) ** 2
        bias = (
            _kernel_sum(pairs, 2 * h**2 + 2 * g2)
            - 2 * _kernel_sum(pairs, h**2 + 2 * g2)
            + _kernel_sum(pairs, 2 * g2)
        )
        return variance_const / h + max(0.0, bias)

    return scale * _brent(criterion, 0.1 * h_ns, 2 * h_ns)


def lscv_1d(x):
    r"""Least-squares cross-validation bandwidth of one feature (ks::hlscv).

    Parameters
    ----------
    x : ndarray of shape (n,)
        The sample, not constant.

    Returns
    -------
    h : float
        The bandwidth (kernel standard deviation).

    Notes
    -----
    Minimises the unbiased estimate of :math:`\mathrm{MISE} - \int f^2`
    (Wand & Jones 1995, section 3.3),

    .. math::

        \mathrm{LSCV}(h) = n^{-2} \sum_{i,j} \phi_{\sqrt 2 h}(X_i - X_j)
            - \frac{2}{n(n-1)} \sum_{i \ne j} \phi_h(X_i - X_j),

    by Brent's method on ks's exact interval: from the smallest positive
    distance between two samples (below it LSCV only sees ties, and tends
    to :math:`-\infty` as :math:`h \to 0` when there are any) to twice the
    normal-scale bandwidth, :math:`2 (4 / (3n))^{1/5} s`. LSCV has local
    minima; Brent's first point, 0.382 of the way into this interval, and
    its golden-section steps decide which one is found, as in ks. This is
    ks's ``hlscv(x, binned = FALSE, bw.ucv = FALSE)``. ks's default
    delegates to ``stats::bw.ucv``, which bins the pair distances (10 000
    bins, each distance rounded down), divides the leave-one-out term by
    :math:`n^2` instead of :math:`n (n - 1)` and searches up to
    :math:`1.144\, s\, n^{-1/5}`: an approximation of this criterion.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=200)
    >>> bool(np.isclose(lscv_1d(-2 * x), 2 * lscv_1d(x), rtol=1e-6))
    True
    """
    z, scale, h_ns = _sd_standardised(x)
    gaps = np.diff(np.sort(x))
    lower = gaps[gaps > 0].min() / scale
    pairs = PairProducts(z[:, None])

    def criterion(h):
        return _kernel_sum(pairs, 2 * h**2) - 2 * _kernel_sum(
            pairs, h**2, include_diagonal=False
        )

    upper = 2 * h_ns
    return scale * _brent(criterion, min(lower, upper), upper)
