r"""Bandwidth rules and forms: (data, weights, bandwidth) -> kernel covariance H.

Rules scale the weighted data covariance :math:`C` (scipy's definition: the
unbiased reliability-weighted covariance) by :math:`s^2`, with the effective
sample size :math:`n_{\mathrm{eff}} = 1 / \sum_i w_i^2` (weights summing to one):

* Scott: :math:`s = n_{\mathrm{eff}}^{-1/(d+4)}`,
* Silverman: :math:`s = (n_{\mathrm{eff}} (d + 2) / 4)^{-1/(d+4)}`,

exactly as :class:`scipy.stats.gaussian_kde`.
"""

import numpy as np
from scipy import linalg


def scott_factor(n_eff, n_features):
    """Scott's factor ``n_eff ** (-1 / (d + 4))``."""
    return n_eff ** (-1.0 / (n_features + 4))


def silverman_factor(n_eff, n_features):
    """Silverman's factor ``(n_eff (d + 2) / 4) ** (-1 / (d + 4))``."""
    return (n_eff * (n_features + 2) / 4.0) ** (-1.0 / (n_features + 4))


BANDWIDTH_RULES = {"scott": scott_factor, "silverman": silverman_factor}

_FIXES = (
    "Pass a float bandwidth, per-feature bandwidths or a full (d, d) matrix "
    "instead, or remove redundant features."
)


def _rule_covariance(rule, X, weights):
    n_points = np.count_nonzero(weights)
    if n_points < 2:
        raise ValueError(
            f"bandwidth={rule!r} estimates the data covariance, which needs at "
            f"least 2 samples with positive weight; got {n_points} sample"
            f"{'s' if n_points != 1 else ''}. {_FIXES}"
        )
    n_eff = 1.0 / np.sum(weights**2)
    data_cov = np.atleast_2d(np.cov(X, rowvar=False, bias=False, aweights=weights))
    try:
        linalg.cholesky(data_cov, lower=True)
    except linalg.LinAlgError:
        data_cov = None
    if data_cov is None or not np.all(np.isfinite(data_cov)):
        raise ValueError(
            f"The weighted data covariance is singular (collinear features, "
            f"identical points, or fewer distinct samples than features), so "
            f"bandwidth={rule!r} cannot be applied. {_FIXES}"
        )
    factor = BANDWIDTH_RULES[rule](n_eff, X.shape[1])
    return factor**2 * data_cov, factor, n_eff


def _explicit_covariance(bandwidth, n_features):
    h = np.asarray(bandwidth, dtype=np.float64)
    if h.ndim == 0 or (h.ndim == 1 and h.size == n_features):
        if not np.all(np.isfinite(h)) or np.any(h <= 0):
            raise ValueError(
                f"Bandwidths must be finite and > 0; got {bandwidth!r}. They are "
                "kernel standard deviations in the units of the features."
            )
        return np.diag(np.broadcast_to(h**2, (n_features,))).copy()
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
    try:
        linalg.cholesky(h, lower=True)
    except linalg.LinAlgError:
        raise ValueError(
            "The bandwidth matrix is not positive definite: all eigenvalues of "
            "the kernel covariance H must be > 0."
        ) from None
    return h.copy()


def kernel_covariance(bandwidth, X, weights):
    """Kernel covariance for a bandwidth given in any of its five forms.

    Parameters
    ----------
    bandwidth : float, {"scott", "silverman"}, array of shape (d,) or (d, d)
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,), non-negative, summing to one

    Returns
    -------
    covariance : ndarray of shape (d, d)
    factor : float or None
        The rule's factor ``s`` (None for explicit bandwidths).
    n_eff : float
        Effective sample size ``1 / sum(w ** 2)``.
    """
    if isinstance(bandwidth, str):
        return _rule_covariance(bandwidth, X, weights)
    n_eff = 1.0 / np.sum(weights**2)
    return _explicit_covariance(bandwidth, X.shape[1]), None, n_eff
