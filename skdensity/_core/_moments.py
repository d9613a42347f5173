r"""A Gaussian mixture in moment form, and the operations that stay in the family.

The evaluation paths hold a mixture by its precisions
(:mod:`skdensity._core._representation`); marginals, conditionals and
convolutions are closed forms in the covariances, so they work on
:class:`MomentMixture`: log-weights, means and covariances, with one shared
``(d, d)`` covariance (a KDE, a tied mixture) or one per component. Every
function below serves both through broadcasting, and the shared case never
loops over components.

With the covariance of a component split over the given features :math:`g`
and the free ones :math:`r`, and the Cholesky factor of the reordered
matrix

.. math::

    \begin{pmatrix} \Sigma_{gg} & \Sigma_{gr} \\ \Sigma_{rg} & \Sigma_{rr}
    \end{pmatrix} = L L^\top, \qquad
    L = \begin{pmatrix} L_{gg} & 0 \\ L_{rg} & L_{rr} \end{pmatrix},

the marginal of :math:`x_g` is :math:`\mathcal N(\mu_g, L_{gg} L_{gg}^\top)`
and, with the whitened residual :math:`z = L_{gg}^{-1}(v - \mu_g)`, the
conditional of :math:`x_r` given :math:`x_g = v` is
:math:`\mathcal N(\mu_r + L_{rg} z,\; L_{rr} L_{rr}^\top)`: the mean shift
:math:`\Sigma_{rg}\Sigma_{gg}^{-1}(v - \mu_g) = L_{rg} z` and the Schur
complement :math:`\Sigma_{rr} - \Sigma_{rg}\Sigma_{gg}^{-1}\Sigma_{gr} =
L_{rr} L_{rr}^\top` come from one factorisation, with no subtraction (the
Schur complement stays positive definite in floating point). The weight of
the component given :math:`v` is :math:`w_k \mathcal N(v; \mu_{k,g},
\Sigma_{k,gg}) / \sum_j (\dots)`, with
:math:`\log \mathcal N = -\tfrac12 \|z\|^2 - \log|L_{gg}| - \tfrac t2 \log 2\pi`.
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

from ._blocks import working_memory_bytes
from ._compat import gen_batches
from ._representation import make_mixture


@dataclass(frozen=True)
class MomentMixture:
    """Gaussian mixture by log-weights, means and covariances.

    Build with :func:`moment_mixture`, which normalises the weights.
    """

    log_weights: np.ndarray  # (K,), logsumexp 0; -inf for a zero weight
    means: np.ndarray  # (K, d)
    covariance: np.ndarray  # (d, d) shared, or (K, d, d)

    @property
    def shared(self):
        return self.covariance.ndim == 2

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    @property
    def weights(self):
        return np.exp(self.log_weights)


def moment_mixture(log_weights, means, covariance):
    """:class:`MomentMixture` with weights normalised to sum to one.

    Parameters
    ----------
    log_weights : array-like of shape (K,)
        Log-weights, not necessarily normalised (a variational mixture's
        weights sum to less than one); ``-inf`` for a zero weight.
    means : array-like of shape (K, d)
    covariance : array-like of shape (d, d) or (K, d, d)
        One covariance shared by all components, or one per component.
    """
    log_weights = np.asarray(log_weights, dtype=np.float64)
    return MomentMixture(
        log_weights=log_weights - logsumexp(log_weights),
        means=np.asarray(means, dtype=np.float64),
        covariance=np.asarray(covariance, dtype=np.float64),
    )


def _lower_inverse(L):
    """``L^{-1}`` of lower-triangular ``L`` (one or a stack)."""
    if L.ndim == 2:
        return linalg.solve_triangular(L, np.eye(len(L)), lower=True)
    return np.linalg.inv(L)


def _transform(A, X):
    """``A x`` for each row ``x`` of ``X`` (..., K, n); ``A`` is (m, n) or (K, m, n)."""
    if A.ndim == 2:
        return X @ A.T
    return np.matmul(A, X[..., None])[..., 0]


def precision_cholesky(covariance):
    r"""Upper-triangular :math:`U = L^{-\top}` with :math:`U U^\top = \Sigma^{-1}`.

    scikit-learn's ``precisions_cholesky_`` convention, for one covariance
    ``(d, d)`` or a stack ``(K, d, d)``; ``L`` is the lower Cholesky factor
    of :math:`\Sigma`.
    """
    return np.swapaxes(_lower_inverse(np.linalg.cholesky(covariance)), -1, -2)


def marginalize(mixture, features):
    """The mixture of ``x[features]``: means and covariances restricted.

    ``features`` is an integer index array; the result's features are in its
    order. Weights are unchanged.
    """
    cov = mixture.covariance[..., features, :][..., :, features]
    return MomentMixture(mixture.log_weights, mixture.means[:, features], cov)


@dataclass(frozen=True)
class _Conditioning:
    """The factorisation a conditioning on ``given`` features reuses."""

    free: np.ndarray  # (r,) indices of the free features
    given: np.ndarray  # (t,)
    whiten: np.ndarray  # L_gg^{-1}, (t, t) or (K, t, t)
    shift: np.ndarray  # L_rg, (r, t) or (K, r, t)
    cov_chol: np.ndarray  # L_rr, (r, r) or (K, r, r)
    log_det: np.ndarray  # log |L_gg|, () or (K,)


def _gram(L):
    """``L L^T``, exactly symmetric (one or a stack)."""
    A = L @ np.swapaxes(L, -1, -2)
    return (A + np.swapaxes(A, -1, -2)) / 2


def _conditioning(mixture, given):
    free = np.setdiff1d(np.arange(mixture.n_features), given)
    order = np.concatenate([given, free])
    L = np.linalg.cholesky(mixture.covariance[..., order, :][..., :, order])
    t = len(given)
    L_gg = L[..., :t, :t]
    return _Conditioning(
        free=free,
        given=np.asarray(given),
        whiten=_lower_inverse(L_gg),
        shift=L[..., t:, :t],
        cov_chol=L[..., t:, t:],
        log_det=np.log(np.diagonal(L_gg, axis1=-2, axis2=-1)).sum(axis=-1),
    )


def _condition_rows(mixture, cond, V):
    """Component log-weights and means given ``x[given] = v``, for rows ``V``.

    Returns ``log_r`` (m, K), normalised over ``K``, and the conditional
    means (m, K, r).
    """
    z = _transform(cond.whiten, V[:, None, :] - mixture.means[:, cond.given])
    logits = mixture.log_weights - 0.5 * np.einsum("mkt,mkt->mk", z, z)
    logits -= cond.log_det
    log_r = logits - logsumexp(logits, axis=1, keepdims=True)
    return log_r, mixture.means[:, cond.free] + _transform(cond.shift, z)


def condition(mixture, given, values):
    """The mixture of the free features given ``x[given] = values``.

    Parameters
    ----------
    mixture : MomentMixture
    given : ndarray of int of shape (t,)
        Indices of the fixed features, ``t < d``.
    values : ndarray of shape (t,)
        Their values.

    Returns
    -------
    MomentMixture
        On the other features, in increasing order: weights reweighted by
        each component's marginal density at ``values``, shifted means and
        Schur-complement covariances (shared when ``mixture``'s is).
    """
    cond = _conditioning(mixture, given)
    log_r, means = _condition_rows(mixture, cond, np.asarray(values)[None, :])
    return MomentMixture(log_r[0], means[0], _gram(cond.cov_chol))


def conditional_moments(mixture, given, V):
    """Mean and covariance of the free features given ``x[given] = v``, per row.

    Parameters
    ----------
    mixture : MomentMixture
    given : ndarray of int of shape (t,)
    V : ndarray of shape (m, t)

    Returns
    -------
    mean : ndarray of shape (m, r)
        :math:`\\sum_k r_k(v) m_k(v)`.
    covariance : ndarray of shape (m, r, r)
        :math:`\\sum_k r_k(v) [S_k + (m_k - \\bar m)(m_k - \\bar m)^\\top]`,
        from centred deviations (no cancellation).

    Rows are processed in chunks of (rows x components) cells within
    scikit-learn's ``working_memory``.
    """
    cond = _conditioning(mixture, given)
    K, r, t = mixture.n_components, len(cond.free), len(given)
    m = V.shape[0]
    mean, cov = np.empty((m, r)), np.empty((m, r, r))
    S = _gram(cond.cov_chol)
    S_flat = S if mixture.shared else S.reshape(K, r * r)
    for rows in chunk_rows(m, 8 * K * (2 * t + 3 * r + 3)):
        log_r, means = _condition_rows(mixture, cond, V[rows])
        resp = np.exp(log_r)
        mean[rows] = np.einsum("mk,mkr->mr", resp, means)
        dev = means - mean[rows][:, None, :]
        dev *= np.sqrt(resp)[:, :, None]
        spread = np.matmul(np.swapaxes(dev, 1, 2), dev)
        spread += S if mixture.shared else (resp @ S_flat).reshape(-1, r, r)
        cov[rows] = spread
    return mean, cov


def convolve(mixture, covariance):
    r"""Canonical mixture of :math:`X + Y`, :math:`Y \sim \mathcal N(0, C)` independent.

    Each component's covariance grows by ``covariance``; the result is the
    core's evaluation representation (:func:`make_mixture`), so that
    :math:`\int f(x)\, \mathcal N(x; y, C)\, dx = (f * \mathcal N_C)(y)` is
    one evaluation of its log-density at :math:`y`.
    """
    total = mixture.covariance + covariance
    return make_mixture(mixture.log_weights, mixture.means, precision_cholesky(total))


def chunk_rows(n_rows, bytes_per_row):
    """Row slices of at most ``working_memory`` worth of cells each."""
    return gen_batches(n_rows, max(1, working_memory_bytes() // max(1, bytes_per_row)))
