r"""Bandwidth rules and forms: (data, weights, bandwidth) -> kernel covariance H.

Rules scale the weighted data covariance :math:`C` (scipy's definition: the
unbiased reliability-weighted covariance) by :math:`s^2`, with the effective
sample size :math:`n_{\mathrm{eff}} = 1 / \sum_i w_i^2` (weights summing to one):

* Scott: :math:`s = n_{\mathrm{eff}}^{-1/(d+4)}`,
* Silverman: :math:`s = (n_{\mathrm{eff}} (d + 2) / 4)^{-1/(d+4)}`,

exactly as :class:`scipy.stats.gaussian_kde`.

Every form is reduced to per-feature kernel standard deviations
:math:`\sigma_j = \sqrt{H_{jj}}` and the unit-diagonal matrix
:math:`R = D^{-1} H D^{-1}`, :math:`D = \mathrm{diag}(\sigma)`, and checked in
that form, whatever the units of the data:

* range: each :math:`\sigma_j` lies in ``[SIGMA_MIN, SIGMA_MAX]``
  (:math:`\sqrt{\text{tiny}}` and :math:`\sqrt{\text{max}}` of float64, about
  1.5e-154 and 1.3e154), so that :math:`H` and :math:`H^{-1}` are finite
  normal numbers;
* numerical rank: :math:`R` counts as singular when its smallest eigenvalue is
  at most ``tol = 10 d eps lambda_max`` (the rule of
  :func:`numpy.linalg.matrix_rank` for a ``d x d`` matrix, with a margin of 10
  for the rounding of :math:`R` itself). Below that, the Cholesky factor of
  :math:`H` carries no correct digit along some direction.

Under a rule the data's own rounding counts too. A value :math:`x` is stored
to within :math:`u |x|` (:math:`u = \mathrm{eps}/2`), which in units of the
feature's spread is :math:`u r_j`, :math:`r_j = \max_i |x_{ij}| / \sqrt{C_{jj}}`.
So:

* a feature is *constant* when :math:`r_j \ge 1 / (16 u)`: its spread is
  within a few units of rounding of its values (an exactly constant column,
  or one computed with rounding, such as ``0.1 * k / k``);
* rounding can add up to :math:`\sum_j (u r_j)^2` to the variance of the
  data along any unit direction of :math:`R` (Cauchy-Schwarz), so ``4`` times
  that is added to ``tol``: data that were rank-deficient before their values
  were rounded (features collinear around a large offset) are singular too.

Data far from the origin are otherwise fine: a column ``1e12 + N(0, 1)``
keeps four digits of its spread and is fitted, its covariance computed after
an exact shift by its mid-range (the differences of nearby floats are
exact), so to the accuracy of the stored values. All O(n d) checks (sample
count, weights, constant features) run before the O(n d^2) covariance.
"""

from typing import NamedTuple

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

_EPS = np.finfo(np.float64).eps

#: Kernel standard deviations must lie in this range: beyond it the kernel
#: covariance (a square) or its inverse over- or underflows float64.
SIGMA_MIN = float(np.sqrt(np.finfo(np.float64).tiny))
SIGMA_MAX = float(np.sqrt(np.finfo(np.float64).max))

#: R is singular when its smallest eigenvalue is at most this times
#: ``d * eps * largest``; measured on 13 600 random rank-deficient data sets
#: (offsets, scales, weights), the computed ratio reached ``3.2 d eps`` when
#: the rounding of the data is left out.
_RANK_MARGIN = 10.0

#: A feature whose spread is at most this many units of rounding (u = eps/2)
#: of its largest value is constant.
_CONSTANT_ROUNDINGS = 16.0

#: Margin on the variance that rounding the data can add along a direction.
_ROUNDING_MARGIN = 4.0

#: Loadings on the null space below this fraction of the largest are rounding.
_LOADING_FLOOR = 1e-3


def scott_factor(n_eff, n_features):
    """Scott's factor ``n_eff ** (-1 / (d + 4))``."""
    return n_eff ** (-1.0 / (n_features + 4))


def silverman_factor(n_eff, n_features):
    """Silverman's factor ``(n_eff (d + 2) / 4) ** (-1 / (d + 4))``."""
    return (n_eff * (n_features + 2) / 4.0) ** (-1.0 / (n_features + 4))


def normal_scale_factor(n_eff, n_features, deriv_order=0):
    """Normal-scale factor ``(4 / (n_eff (d + 2r + 2))) ** (1 / (d + 2r + 4))``.

    Its square times the data covariance is ks's ``Hns`` (Chacon, Duong &
    Wand 2011, eq. 3.1); for ``r = 0`` it equals Silverman's factor.
    """
    d, r = n_features, deriv_order
    return (4.0 / (n_eff * (d + 2 * r + 2))) ** (1.0 / (d + 2 * r + 4))


BANDWIDTH_RULES = {"scott": scott_factor, "silverman": silverman_factor}

#: Rules that scale the data covariance by a factor depending on the
#: derivative order targeted.
DERIVATIVE_RULES = {"normal_scale": normal_scale_factor}

_FIXES = (
    "Pass a float bandwidth, per-feature bandwidths or a full (d, d) matrix "
    "instead, or remove redundant features."
)


def normalize_weights(sample_weight):
    """Weights summing to one, without overflow or underflow of the sum.

    Dividing by the largest weight first keeps the sum finite for weights
    near the float64 maximum (``[1e308] * 3``) and positive for subnormal
    ones.
    """
    weights = sample_weight / sample_weight.max()
    return weights / weights.sum()


def log_normalize_weights(sample_weight):
    """Logarithms of the positive weights over their sum, to full precision.

    Ratios to the largest weight are taken before the logarithm (so equal
    weights give exactly ``-log(n)``, whatever their size); a ratio that
    underflows (1e-600) comes from the difference of logarithms instead, and
    keeps its kernel.

    Returns
    -------
    positive : ndarray of bool of shape (n,)
    log_weights : ndarray of shape (n_positive,)
    """
    positive = sample_weight > 0
    weights = sample_weight[positive]
    largest = weights.max()
    ratio = weights / largest
    with np.errstate(divide="ignore"):
        log_ratio = np.where(
            ratio >= np.finfo(np.float64).tiny,
            np.log(ratio),
            np.log(weights) - np.log(largest),
        )
    return positive, log_ratio - logsumexp(log_ratio)


def _feature_names(indices, names):
    if names is None:
        return ", ".join(str(j) for j in indices)
    return ", ".join(f"{j} ({names[j]!r})" for j in indices)


def _check_sigma(sigma, names, source):
    bad = np.flatnonzero(~((sigma >= SIGMA_MIN) & (sigma <= SIGMA_MAX)))
    if bad.size:
        direction = "underflows" if np.all(sigma[bad] < SIGMA_MIN) else "overflows"
        if np.any(sigma[bad] < SIGMA_MIN) and np.any(sigma[bad] > SIGMA_MAX):
            direction = "over- or underflows"
        raise ValueError(
            f"{source} gives kernel standard deviations of "
            f"{', '.join(f'{s:.3g}' for s in sigma[bad])} along feature(s) "
            f"{_feature_names(bad, names)}: their square, the kernel "
            f"covariance, {direction} in float64. Usable kernel "
            f"standard deviations lie in [{SIGMA_MIN:.2g}, {SIGMA_MAX:.2g}]; "
            f"rescale the data (e.g. standardise each feature) and the "
            f"bandwidth with it."
        )


def _null_space(unit_cov, rounding=0.0):
    """Features spanning the numerical null space of unit-diagonal ``unit_cov``.

    Parameters
    ----------
    unit_cov : ndarray of shape (d, d)
    rounding : float, default=0.0
        Variance, in units of ``unit_cov``, that rounding of the data can
        add along any direction; added to the tolerance.

    Returns
    -------
    involved : ndarray of int or None
        Features with a loading on the eigenvectors of eigenvalues at most
        ``tol``; None when ``unit_cov`` has full numerical rank.
    smallest, tol : float
        Smallest eigenvalue and the rank tolerance.
    """
    eigvals, eigvecs = linalg.eigh(unit_cov)
    tol = _RANK_MARGIN * len(eigvals) * _EPS * eigvals[-1] + rounding
    if eigvals[0] > tol:
        return None, eigvals[0], tol
    loadings = np.linalg.norm(eigvecs[:, eigvals <= tol], axis=1)
    involved = np.flatnonzero(loadings >= _LOADING_FLOOR * loadings.max())
    return involved, eigvals[0], tol


def _rank_detail(smallest, tol):
    return (
        f"after scaling to unit variances its smallest eigenvalue is "
        f"{smallest:.2g}, not above the tolerance {tol:.2g} (10 d eps times the "
        f"largest, plus what rounding the data can add)"
    )


def _factorize(covariance):
    """``H``, its lower Cholesky factor ``L`` and ``U = L^{-T}`` (``U U^T = H^{-1}``).

    ``H`` passed the range and rank checks: its diagonal is normal; an
    off-diagonal entry may be subnormal, but its absolute error (5e-324) is
    then at most eps of the diagonal scale, harmless to the factorisation.
    """
    cov_chol = linalg.cholesky(covariance, lower=True)
    eye = np.eye(len(covariance))
    prec_chol = linalg.solve_triangular(cov_chol, eye, lower=True).T
    if not (np.all(np.isfinite(covariance)) and np.all(np.isfinite(prec_chol))):
        raise ValueError(
            "The kernel covariance or its inverse is not finite in float64; "
            "rescale the data (e.g. standardise each feature) and the "
            "bandwidth with it."
        )
    return covariance, cov_chol, prec_chol


def _unbiasing_denominator(weights):
    """``1 - sum(w ** 2)`` for weights summing to one, without cancellation.

    It equals ``sum_i w_i (1 - w_i)``; only the heaviest weight can be close
    to one, and its ``1 - w_i`` is summed from the other weights directly.
    """
    heaviest = np.argmax(weights)
    rest = np.sum(np.delete(weights, heaviest))
    complement = 1.0 - weights
    complement[heaviest] = rest
    return float(np.dot(weights, complement)), rest, heaviest


def _rule_factor(rule, n_eff, n_features, deriv_order):
    if rule in DERIVATIVE_RULES:
        return DERIVATIVE_RULES[rule](n_eff, n_features, deriv_order)
    return BANDWIDTH_RULES[rule](n_eff, n_features)


def _rule_covariance(rule, X, weights, names, deriv_order=0, label=None):
    # The name the user gave (a selector starts from the normal-scale rule).
    label = rule if label is None else label
    n_features = X.shape[1]
    keep = weights > 0
    n_points = int(np.count_nonzero(keep))
    if n_points <= n_features:
        raise ValueError(
            f"bandwidth={label!r} estimates the {n_features} x {n_features} data "
            f"covariance, which needs more samples with positive weight than "
            f"features; got {n_points} sample{'s' if n_points != 1 else ''} for "
            f"{n_features} feature{'s' if n_features != 1 else ''}. {_FIXES}"
        )
    X, weights = X[keep], weights[keep]
    denominator, rest, heaviest = _unbiasing_denominator(weights)
    n_eff = 1.0 / np.sum(weights**2)
    if rest <= _EPS:
        raise ValueError(
            f"sample_weight puts all but {rest:.2g} of the total weight on sample "
            f"{heaviest} (of those with positive weight): the effective sample "
            f"size is n_eff = 1 + {2 * rest:.2g}, one sample to float64 "
            f"precision, from which bandwidth={label!r} cannot estimate a "
            f"covariance. Give the other samples a larger share of the weight. "
            f"{_FIXES}"
        )
    # Power-of-two column scales are exact and keep every O(n d) and O(n d^2)
    # intermediate in range, for data at any scale float64 holds; |Z| < 2, as
    # 2 ** 1024 (the scale of data near the float64 maximum) overflows. The
    # shift by the mid-range is exact for data far from the origin
    # (differences of nearby floats are exact), so the mean's rounding stays
    # at the scale of the spread, not of the offset; unlike a shift by one
    # row, it does not depend on the order of the rows.
    magnitude = np.max(np.abs(X), axis=0)
    exponent = np.frexp(np.where(magnitude > 0, magnitude, 1.0))[1]
    scale = np.ldexp(1.0, exponent - 1)
    # Features as contiguous rows: the Gram matrix is then formed from dot
    # products of contiguous vectors, which BLAS sums more accurately (its
    # rounding, and so its dependence on the order of the samples, measured
    # 3-5x smaller than with samples as rows).
    Z = np.ascontiguousarray(X.T)
    Z /= scale[:, None]
    Z -= ((Z.max(axis=1) + Z.min(axis=1)) / 2)[:, None]
    Z -= (Z @ weights)[:, None]
    spread = np.sqrt((Z**2 @ weights) / denominator)
    rounding = 0.5 * _EPS * (magnitude / scale)
    constant = np.flatnonzero(spread <= _CONSTANT_ROUNDINGS * rounding)
    if constant.size:
        raise ValueError(
            f"Feature(s) {_feature_names(constant, names)} are constant: among "
            f"the samples with positive weight they vary by at most "
            f"{_CONSTANT_ROUNDINGS:g} units of rounding of their values, so the "
            f"data covariance is singular and bandwidth={label!r} cannot be "
            f"applied. Drop the constant feature(s). {_FIXES}"
        )
    scaled_cov = _scaled_covariance(Z, weights) / denominator
    root = np.sqrt(np.diag(scaled_cov))
    unit_cov = scaled_cov / np.outer(root, root)
    data_rounding = _ROUNDING_MARGIN * np.sum((rounding / spread) ** 2)
    involved, smallest, tol = _null_space(unit_cov, data_rounding)
    if involved is not None:
        raise ValueError(
            f"The weighted data covariance is singular: feature(s) "
            f"{_feature_names(involved, names)} are collinear, a linear "
            f"combination of them is constant to float64 precision "
            f"({_rank_detail(smallest, tol)}). Fewer distinct samples than "
            f"features also cause this. bandwidth={label!r} cannot be applied; "
            f"drop redundant features. {_FIXES}"
        )
    factor = _rule_factor(rule, n_eff, n_features, deriv_order)
    sigma = factor * scale * root
    _check_sigma(sigma, names, f"bandwidth={label!r} on these data")
    return (*_factorize(unit_cov * np.outer(sigma, sigma)), factor, n_eff)


def _scaled_covariance(Z, weights):
    """``Z W Z^T``, symmetric: the O(n d^2) step, after every O(n d) check."""
    gram = Z @ (Z * weights).T
    return (gram + gram.T) / 2


def _explicit_covariance(bandwidth, n_features, names):
    if np.asarray(bandwidth).dtype == bool:
        raise ValueError(
            f"bandwidth={bandwidth!r} is boolean; pass a positive float (a kernel "
            "standard deviation in the units of the features), per-feature "
            "bandwidths, a (d, d) covariance matrix or a rule name."
        )
    h = np.asarray(bandwidth, dtype=np.float64)
    source = f"bandwidth={bandwidth!r}" if h.ndim == 0 else "The bandwidth"
    if h.ndim == 0 or (h.ndim == 1 and h.size == n_features):
        if not np.all(np.isfinite(h)) or np.any(h <= 0):
            raise ValueError(
                f"Bandwidths must be finite and > 0; got {bandwidth!r}. They are "
                "kernel standard deviations in the units of the features."
            )
        sigma = np.broadcast_to(h, (n_features,)).copy()
        _check_sigma(sigma, names, source)
        return _factorize(np.diag(sigma**2))
    if h.shape != (n_features, n_features):
        raise ValueError(
            f"bandwidth has shape {h.shape}, but the data has {n_features} "
            f"features: pass a float, a 1-D array of {n_features} per-feature "
            f"bandwidths, or a ({n_features}, {n_features}) covariance matrix."
        )
    if not np.all(np.isfinite(h)) or not np.allclose(h, h.T, rtol=1e-10, atol=0):
        raise ValueError(
            "A bandwidth matrix is the kernel covariance H and must be finite "
            "and symmetric; symmetrise it, e.g. (H + H.T) / 2."
        )
    diagonal = np.diag(h)
    if np.any(diagonal <= 0):
        bad = _feature_names(np.flatnonzero(diagonal <= 0), names)
        raise ValueError(
            f"The bandwidth matrix is not positive definite: its diagonal "
            f"entries (kernel variances) of feature(s) {bad} are <= 0. All "
            f"eigenvalues of the kernel covariance H must be > 0."
        )
    sigma = np.sqrt(diagonal)
    _check_sigma(sigma, names, source)
    unit_cov = h / np.outer(sigma, sigma)
    involved, smallest, tol = _null_space(unit_cov)
    if involved is not None:
        kind = "not positive definite" if smallest < 0 else "numerically singular"
        raise ValueError(
            f"The bandwidth matrix is {kind} ({_rank_detail(smallest, tol)}); "
            f"the degenerate direction involves feature(s) "
            f"{_feature_names(involved, names)}. All eigenvalues of the kernel "
            f"covariance H must be clearly > 0: add a multiple of the identity "
            f"or pass per-feature bandwidths."
        )
    return _factorize(h.copy())


#: Data-driven selectors (:mod:`skdensity.bandwidth`) by name.
SELECTOR_NAMES = ("normal_scale", "plugin", "scv", "lscv")


def covariance_from_lengths(value, n_features, name):
    """A covariance matrix from lengths given as the explicit bandwidth forms.

    ``value`` is a float ``h`` (``h^2 I``), ``n_features`` per-feature
    lengths (``diag(h_j^2)``) or a symmetric positive definite
    ``(n_features, n_features)`` matrix, checked exactly as an explicit
    ``bandwidth`` is (range, symmetry, numerical rank). Used for every
    parameter that takes a length scale in these forms, such as the
    ``scale`` of :func:`~skdensity.find_modes`.

    Raises
    ------
    ValueError
        Naming ``name``, when ``value`` is none of the three forms.
    """
    try:
        return _explicit_covariance(value, n_features, None)[0]
    except ValueError as error:
        raise ValueError(
            f"{name} must be a positive float (a length), {n_features} positive "
            f"per-feature lengths, or a ({n_features}, {n_features}) symmetric "
            f"positive definite covariance, in the units of X: {error}"
        ) from None


class KernelCovariance(NamedTuple):
    """A kernel covariance with its factors, as :func:`kernel_covariance` gives it."""

    covariance: np.ndarray
    covariance_cholesky: np.ndarray
    precision_cholesky: np.ndarray
    factor: float | None
    n_eff: float
    method: str


def _selected_covariance(method, X, weights, names, deriv_order):
    """A selector's ``H``, checked like a user's matrix (range, rank)."""
    from ._selectors import lscv_bandwidth, plugin_bandwidth, scv_bandwidth

    keep = weights > 0
    if not np.allclose(weights[keep], weights[keep][0], rtol=1e-12, atol=0):
        raise ValueError(
            f"bandwidth={method!r} does not take sample weights (ks's selector "
            f"is defined for equally weighted data); use bandwidth='normal_scale', "
            f"a rule, or select H on unweighted data and pass it as the bandwidth."
        )
    X = X[keep]
    if method == "lscv":
        if deriv_order:
            raise ValueError(
                "bandwidth='lscv' selects H for the density only (deriv_order=0); "
                "use 'plugin' or 'scv' for derivatives."
            )
        H = lscv_bandwidth(X)
    else:
        select = {"plugin": plugin_bandwidth, "scv": scv_bandwidth}[method]
        H = select(X, deriv_order=deriv_order)
    return _explicit_covariance(H, X.shape[1], names)


def kernel_covariance(bandwidth, X, weights, feature_names=None, deriv_order=0):
    """Kernel covariance for a bandwidth given in any of its forms, factorised.

    Parameters
    ----------
    bandwidth : float, str or array of shape (d,) or (d, d)
        A rule (``"scott"``, ``"silverman"``), a selector of
        :mod:`skdensity.bandwidth` (``"normal_scale"``, ``"plugin"``,
        ``"scv"``, ``"lscv"``), or an explicit bandwidth.
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,), non-negative, summing to one
    feature_names : ndarray of shape (d,), default=None
        Named in error messages.
    deriv_order : int, default=0
        Derivative order the selectors target; ignored by the other forms.

    Returns
    -------
    KernelCovariance
        ``covariance`` (``H``), ``covariance_cholesky`` (lower ``L``,
        ``L L^T = H``), ``precision_cholesky`` (upper ``U = L^{-T}``,
        ``U U^T = H^{-1}``), ``factor`` (a rule's ``s``, else None),
        ``n_eff`` (``1 / sum(w ** 2)``) and ``method`` (the rule's or
        selector's name, ``"explicit"`` otherwise).

    Raises
    ------
    ValueError
        For a rule or selector: too few samples with positive weight, all
        weight on one sample, constant or collinear features; sample weights
        under a selector that takes none. For any form: a kernel covariance
        that is not positive definite to float64 precision, or whose square
        root or inverse leaves the range of float64.
    """
    n_eff = 1.0 / np.sum(weights**2)
    if isinstance(bandwidth, str) and bandwidth in ("plugin", "scv", "lscv"):
        factors = _selected_covariance(
            bandwidth, X, weights, feature_names, deriv_order
        )
        return KernelCovariance(*factors, None, n_eff, bandwidth)
    if isinstance(bandwidth, str):
        *factors, factor, n_eff = _rule_covariance(
            bandwidth, X, weights, feature_names, deriv_order
        )
        return KernelCovariance(*factors, factor, n_eff, bandwidth)
    factors = _explicit_covariance(bandwidth, X.shape[1], feature_names)
    return KernelCovariance(*factors, None, n_eff, "explicit")
