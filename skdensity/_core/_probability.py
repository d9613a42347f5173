r"""Probabilities of a Gaussian mixture in moment form: boxes, draws, level sets.

A box holds probability :math:`\sum_k w_k P_k(\text{box})`. In one dimension
:math:`P_k` is a difference of normal CDFs (:func:`scipy.special.ndtr`), taken
in the tail that keeps it accurate; in more dimensions it is
:func:`scipy.stats.multivariate_normal.cdf`, called once for all
(query, component) pairs of a shared covariance (one factorisation) and once
per component otherwise.
"""

import numpy as np
from scipy.special import ndtr
from scipy.stats import multivariate_normal

from ._moments import chunk_rows


def interval_probability(a, b):
    r""":math:`\Phi(b) - \Phi(a)` for the standard normal, from the accurate tail.

    Above zero the difference is taken of upper tails,
    :math:`\Phi(-a) - \Phi(-b)`, so that an interval far in the upper tail
    keeps its relative precision (the lower tail is accurate as it is). The
    result is signed: negative when ``b < a``.
    """
    return np.where(a > 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))


def box_probability(mixture, low, high, *, maxpts=None, abseps=1e-5, rng=None):
    """Probability of the boxes ``low < x <= high`` under a moment mixture.

    Parameters
    ----------
    mixture : MomentMixture
        Weights normalised.
    low, high : ndarray of shape (m, d)
        Box corners; infinite entries are allowed. A box with ``low > high``
        along an odd number of axes gets a negative sign (scipy's
        convention).
    maxpts, abseps : int or None, float
        Passed to :func:`scipy.stats.multivariate_normal.cdf` (d >= 3 only).
    rng : numpy.random.Generator or None
        Its quasi-Monte Carlo randomisation (d >= 3 only).

    Returns
    -------
    ndarray of shape (m,)
    """
    m, d = low.shape
    K = mixture.n_components
    w = mixture.weights
    out = np.zeros(m)
    if d == 1:
        sd = np.sqrt(mixture.covariance[..., 0, 0])
        mu = mixture.means[:, 0]
        for rows in chunk_rows(m, 8 * 3 * K):
            a = (low[rows] - mu) / sd
            b = (high[rows] - mu) / sd
            out[rows] = interval_probability(a, b) @ w
        return out
    options = dict(maxpts=maxpts, abseps=abseps, rng=rng)
    zero = np.zeros(d)
    if mixture.shared:
        for rows in chunk_rows(m, 8 * K * (4 * d + 2)):
            upper = (high[rows, None, :] - mixture.means).reshape(-1, d)
            lower = (low[rows, None, :] - mixture.means).reshape(-1, d)
            p = multivariate_normal.cdf(
                upper, mean=zero, cov=mixture.covariance, lower_limit=lower, **options
            )
            out[rows] = np.reshape(p, (-1, K)) @ w
        return out
    for k in np.flatnonzero(w > 0):
        mu = mixture.means[k]
        p = multivariate_normal.cdf(
            high - mu, mean=zero, cov=mixture.covariance[k], lower_limit=low - mu,
            **options,
        )  # fmt: skip
        out += w[k] * np.reshape(p, m)
    return out


def sample(mixture, n_samples, rng):
    """Draws from a moment mixture: a component by weight, then its Gaussian.

    Parameters
    ----------
    mixture : MomentMixture
    n_samples : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n_samples, d)
    """
    comp = rng.choice(mixture.n_components, size=n_samples, p=mixture.weights)
    z = rng.standard_normal((n_samples, mixture.n_features))
    L = np.linalg.cholesky(mixture.covariance)
    if mixture.shared:
        return mixture.means[comp] + z @ L.T
    X = np.empty_like(z)
    for k in np.unique(comp):
        rows = comp == k
        X[rows] = mixture.means[k] + z[rows] @ L[k].T
    return X


def level_from_draws(log_f, prob):
    r"""Density level of the region of probability ``prob``, from draws.

    With :math:`X_1, \dots, X_n` drawn from :math:`f`, the level :math:`c`
    with :math:`P(f(X) \ge c) = p` is the :math:`(1 - p)`-quantile of
    :math:`f(X)`: here the order statistic of rank
    :math:`r = \lceil (1 - p) n \rceil`.

    Parameters
    ----------
    log_f : ndarray of shape (n,)
        :math:`\log f` at the draws.
    prob : ndarray of shape (q,)
        Probabilities in (0, 1).

    Returns
    -------
    log_level : ndarray of shape (q,)
    level_std : ndarray of shape (q,)
        Monte Carlo standard error of the level :math:`c`: half the spread
        of the order statistics :math:`\sqrt{n p (1 - p)}` ranks (one binomial
        standard deviation of the rank) either side of :math:`r`.
    coverage_std : ndarray of shape (q,)
        Standard deviation of the probability the region
        :math:`\{f \ge \hat c\}` actually holds: it is
        :math:`1 - U_{(r)}`, :math:`U_{(r)} \sim \mathrm{Beta}(r, n + 1 - r)`,
        so :math:`\sqrt{r (n + 1 - r) / ((n + 1)^2 (n + 2))}`.
    """
    s = np.sort(log_f)
    n = s.size
    q = 1.0 - prob
    # Rounded first: 1 - 0.99 is 0.010000000000000009, not a rank above 0.01 n.
    rank = np.clip(np.ceil(np.round(q * n, 6)).astype(int), 1, n)
    spread = np.rint(np.sqrt(n * q * prob)).astype(int)
    low = np.clip(rank - 1 - spread, 0, n - 1)
    high = np.clip(rank - 1 + spread, 0, n - 1)
    level_std = 0.5 * (np.exp(s[high]) - np.exp(s[low]))
    coverage_std = np.sqrt(rank * (n + 1.0 - rank) / ((n + 1.0) ** 2 * (n + 2.0)))
    return s[rank - 1], level_std, coverage_std
