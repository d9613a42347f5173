r"""Log-density, gradient and Hessian of a Gaussian mixture, in closed form.

This module is the one numerical core of skdensity. A Gaussian KDE and a
Gaussian mixture model are both mixtures

.. math::

    f(x) = \sum_{k=1}^K \exp(a_k)\, \mathcal N(x; \mu_k, P_k^{-1}),

with log-weights :math:`a_k` (not necessarily normalised: the variational
predictive of a Bayesian mixture is such a sum), means :math:`\mu_k` and
precisions :math:`P_k = U_k U_k^\top` given by their Cholesky factors
:math:`U_k` (upper triangular, sklearn's ``precisions_cholesky_`` convention).

With the responsibilities :math:`r_k(x) = \mathrm{softmax}_k(a_k + \log
\mathcal N(x; \mu_k, P_k^{-1}))` and :math:`g_k(x) = P_k(\mu_k - x)`,

.. math::

    \nabla \log f = \sum_k r_k g_k, \qquad
    \nabla^2 \log f = \sum_k r_k \left[(g_k - \nabla\log f)
        (g_k - \nabla\log f)^\top - P_k\right],

and :math:`\nabla f = f\,\nabla\log f`,
:math:`\nabla^2 f = f\,(\nabla^2\log f + \nabla\log f\,\nabla\log f^\top)`.
The gradient is with respect to the query point and points uphill.

Two paths evaluate these formulas:

* **shared** (one precision for all components: a KDE, a tied mixture). The
  queries and means are centred and whitened once, :math:`y = (x - c) U`,
  :math:`m_k = (\mu_k - c) U`, so that
  :math:`\log\mathcal N_k = \mathrm{const} - \tfrac12\|y\|^2 + y\cdot m_k -
  \tfrac12\|m_k\|^2`. The term :math:`\|y\|^2` is common to all components and
  is left out of the softmax, which keeps the responsibilities exact however
  far the query lies from the data. Then
  :math:`\nabla\log f = U(\bar m - y)` and
  :math:`\nabla^2\log f = U(\mathrm{Cov}_r(m) - I)U^\top` with
  :math:`\bar m = \sum_k r_k m_k`. Everything is matrix products over blocks
  of queries and components, with an online log-sum-exp across component
  blocks; no Python loop over components, no ``m x K x d`` array.
* **per-component** (a mixture with its own precisions). Loops over the few
  components, forming :math:`g_k` explicitly; the Hessian uses the centred
  form above, which is free of cancellation far from the data.

Rows are processed in chunks sized from scikit-learn's ``working_memory``.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ._utils import concatenate_chunks, map_row_chunks, plan_chunks

_LOG_2PI = np.log(2 * np.pi)


# ---------------------------------------------------------------------------
# Canonical mixture representations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedPrecisionMixture:
    """Gaussian mixture whose components share one precision ``U U^T``.

    Build with :func:`make_mixture`. Attributes hold what evaluation reuses:
    the centre ``c``, whitened centred means ``m = (means - c) U``, their half
    squared norms minus the log-weights, and the log normalising constant.
    """

    prec_chol: np.ndarray  # (d, d)
    center: np.ndarray  # (d,)
    white_means: np.ndarray  # (K, d)
    neg_logit_offset: np.ndarray  # (K,) 0.5 |m_k|^2 - a_k
    log_norm: float  # sum log diag U - d/2 log 2 pi

    @property
    def n_components(self):
        return self.white_means.shape[0]

    @property
    def n_features(self):
        return self.white_means.shape[1]


@dataclass(frozen=True)
class ComponentPrecisionMixture:
    """Gaussian mixture whose components have their own precisions.

    Build with :func:`make_mixture`.
    """

    log_weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d)
    prec_chol: np.ndarray  # (K, d, d)
    precisions: np.ndarray  # (K, d, d)
    log_norm: np.ndarray  # (K,) a_k + sum log diag U_k - d/2 log 2 pi

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]


def make_mixture(log_weights, means, prec_chol):
    """Build the canonical representation of a Gaussian mixture.

    Parameters
    ----------
    log_weights : array-like of shape (K,)
        Log of the component weights (need not sum to one). Components with
        weight ``-inf`` are dropped.
    means : array-like of shape (K, d)
        Component means.
    prec_chol : array-like of shape (d, d) or (K, d, d)
        Cholesky factor(s) ``U`` of the precision, ``P = U U^T``: one shared
        factor, or one per component.

    Returns
    -------
    SharedPrecisionMixture or ComponentPrecisionMixture
    """
    log_weights = np.asarray(log_weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    prec_chol = np.asarray(prec_chol, dtype=np.float64)
    keep = log_weights > -np.inf
    if not keep.all():
        log_weights, means = log_weights[keep], means[keep]
        if prec_chol.ndim == 3:
            prec_chol = prec_chol[keep]
    d = means.shape[1]
    if prec_chol.ndim == 2:
        # Centre on the weighted mean of the means: keeps |m_k| at the scale
        # of the data spread in bandwidths, whatever the data's offset.
        center = np.exp(log_weights - logsumexp(log_weights)) @ means
        white = (means - center) @ prec_chol
        return SharedPrecisionMixture(
            prec_chol=prec_chol,
            center=center,
            white_means=white,
            neg_logit_offset=0.5 * np.einsum("ij,ij->i", white, white) - log_weights,
            log_norm=float(np.log(np.diag(prec_chol)).sum() - 0.5 * d * _LOG_2PI),
        )
    log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    return ComponentPrecisionMixture(
        log_weights=log_weights,
        means=means,
        prec_chol=prec_chol,
        precisions=prec_chol @ prec_chol.transpose(0, 2, 1),
        log_norm=log_weights + log_det - 0.5 * d * _LOG_2PI,
    )


# ---------------------------------------------------------------------------
# Shared-precision path
# ---------------------------------------------------------------------------


def _shared_chunk(X, mix, order, col_slices):
    """Log f and its derivatives for one chunk of queries, shared precision."""
    Y = (X - mix.center) @ mix.prec_chol
    m, d = Y.shape
    iu = np.triu_indices(d)
    run_max = np.full(m, -np.inf)
    s0 = np.zeros(m)
    s1 = np.zeros((m, d)) if order >= 1 else None
    s2 = np.zeros((m, iu[0].size)) if order >= 2 else None
    for cols in col_slices:
        M = mix.white_means[cols]
        logits = Y @ M.T
        logits -= mix.neg_logit_offset[cols]
        new_max = np.maximum(run_max, logits.max(axis=1))
        rescale = np.exp(run_max - new_max)
        logits -= new_max[:, None]
        np.exp(logits, out=logits)
        s0 *= rescale
        s0 += logits.sum(axis=1)
        if order >= 1:
            s1 *= rescale[:, None]
            s1 += logits @ M
        if order >= 2:
            s2 *= rescale[:, None]
            s2 += logits @ (M[:, iu[0]] * M[:, iu[1]])
        run_max = new_max
    log_f = run_max + np.log(s0) - 0.5 * np.einsum("ij,ij->i", Y, Y) + mix.log_norm
    if order == 0:
        return log_f, None, None
    U = mix.prec_chol
    mean_m = s1 / s0[:, None]
    grad = (mean_m - Y) @ U.T
    if order == 1:
        return log_f, grad, None
    cov = np.empty((m, d, d))
    cov[:, iu[0], iu[1]] = s2 / s0[:, None]
    cov[:, iu[1], iu[0]] = cov[:, iu[0], iu[1]]
    cov -= mean_m[:, :, None] * mean_m[:, None, :]
    cov[:, np.arange(d), np.arange(d)] -= 1.0
    hess = U @ cov @ U.T
    return log_f, grad, _symmetrize(hess)


# ---------------------------------------------------------------------------
# Per-component path
# ---------------------------------------------------------------------------


def _component_log_prob(X, mix):
    """Weighted component log-densities ``a_k + log N_k(x)`` and whitened
    residuals ``(x - mu_k) U_k``, shapes (m, K) and (m, K, d)."""
    m, d = X.shape
    K = mix.n_components
    white = np.empty((m, K, d))
    for k in range(K):
        white[:, k] = (X - mix.means[k]) @ mix.prec_chol[k]
    log_prob = mix.log_norm - 0.5 * np.einsum("mkd,mkd->mk", white, white)
    return log_prob, white


def _component_chunk(X, mix, order, col_slices=None):
    """Log f and its derivatives for one chunk of queries, own precisions."""
    log_prob, white = _component_log_prob(X, mix)
    log_f = logsumexp(log_prob, axis=1)
    if order == 0:
        return log_f, None, None
    resp = np.exp(log_prob - log_f[:, None])
    # g_k = P_k (mu_k - x) = -U_k U_k^T (x - mu_k); row form -w_k U_k^T.
    g = -np.einsum("mke,kde->mkd", white, mix.prec_chol)
    grad = np.einsum("mk,mkd->md", resp, g)
    if order == 1:
        return log_f, grad, None
    g -= grad[:, None, :]
    hess = np.einsum("mk,mki,mkj->mij", resp, g, g, optimize=True)
    hess -= (resp @ mix.precisions.reshape(mix.n_components, -1)).reshape(hess.shape)
    return log_f, grad, _symmetrize(hess)


# ---------------------------------------------------------------------------
# Public entry points of the core
# ---------------------------------------------------------------------------


def _symmetrize(H):
    return 0.5 * (H + H.transpose(0, 2, 1))


def log_density_derivatives(X, mixture, order=0, n_jobs=None):
    """Log-density of a Gaussian mixture and its first ``order`` derivatives.

    Parameters
    ----------
    X : ndarray of shape (m, d), float64
        Query points (already validated).
    mixture : SharedPrecisionMixture or ComponentPrecisionMixture
        From :func:`make_mixture`.
    order : {0, 1, 2}, default=0
        Highest derivative wanted.
    n_jobs : int, default=None
        Number of joblib workers over query chunks.

    Returns
    -------
    log_f : ndarray of shape (m,)
    grad_log_f : ndarray of shape (m, d) or None
        ``None`` when ``order < 1``.
    hess_log_f : ndarray of shape (m, d, d) or None
        ``None`` when ``order < 2``.
    """
    m = X.shape[0]
    K, d = mixture.n_components, mixture.n_features
    if isinstance(mixture, SharedPrecisionMixture):
        # Per (row, component): the logits block and one temporary.
        per_cell = 16
        per_row = 8 * (4 * d + 3 * d * d)
        rows, cols = plan_chunks(m, K, per_cell, per_row, n_jobs)
        chunk = _shared_chunk
    else:
        per_cell = 8 * (3 + 2 * d)
        per_row = 8 * (4 * d + 2 * d * d)
        rows, _ = plan_chunks(m, 1, K * per_cell, per_row, n_jobs)
        cols, chunk = None, _component_chunk
    results = map_row_chunks(
        lambda Xc: chunk(Xc, mixture, order, cols), X, rows, n_jobs=n_jobs
    )
    return concatenate_chunks(results)


def responsibilities(X, mixture):
    """Posterior component probabilities ``r_k(x)``, shape (m, K).

    For the shared path this is an ``m x K`` array: meant for mixtures with few
    components or few queries.
    """
    if isinstance(mixture, SharedPrecisionMixture):
        Y = (X - mixture.center) @ mixture.prec_chol
        logits = Y @ mixture.white_means.T - mixture.neg_logit_offset
    else:
        logits, _ = _component_log_prob(X, mixture)
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def to_density_scale(log_f, grad_log_f=None, hess_log_f=None):
    """Turn derivatives of ``log f`` into derivatives of ``f``.

    ``grad f = f grad log f`` and
    ``hess f = f (hess log f + grad log f grad log f^T)``.
    """
    f = np.exp(log_f)
    grad = None if grad_log_f is None else f[:, None] * grad_log_f
    hess = None
    if hess_log_f is not None:
        outer = grad_log_f[:, :, None] * grad_log_f[:, None, :]
        hess = f[:, None, None] * (hess_log_f + outer)
    return f, grad, hess
