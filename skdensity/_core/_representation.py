"""Canonical representations of a Gaussian mixture for the core.

A mixture is held either with one shared precision (a KDE, a tied mixture:
:class:`SharedPrecisionMixture`, whose components are grouped in spatial
frames when the data are wide) or with one precision per component
(:class:`ComponentPrecisionMixture`). :func:`make_mixture` builds either.
"""

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

#: log(2 pi), for every normalising constant of the package.
LOG_2PI = float(np.log(2 * np.pi))

#: Components probed per query to pick the exponent shift (see shared_task).
N_PROBE = 64

#: Components sampled per query to judge whether raising its exponents before
#: ``exp`` pays (see ``_slow_rows`` in :mod:`skdensity._core._shared`).
N_SAMPLE = 256


def evenly_spaced(K, count):
    """Indices of ``min(K, count)`` evenly spaced components of ``K``."""
    if count >= K:
        return np.arange(K)
    # Steps of at least 1: distinct and increasing.
    return np.linspace(0, K - 1, count).astype(np.intp)


@dataclass(frozen=True)
class SharedPrecisionMixture:
    """Gaussian mixture whose components share one precision ``U U^T``.

    Build with :func:`make_mixture`. Attributes hold what evaluation reuses.
    The components are sorted into spatial groups (one group when the data
    span at most :data:`COMPACT_RADIUS` bandwidths around their centre);
    group ``g`` holds components ``group_starts[g]:group_starts[g + 1]``,
    whose whitened means are stored in the group's own frame,
    ``m_k = (mu_k - o_g) U``, with ``o_g = origins[g]`` a point of input
    space (a component's mean, or the centre ``c`` for a single group).
    """

    prec_chol: np.ndarray  # (d, d)
    center: np.ndarray  # (d,) weighted mean of the means
    white_means: np.ndarray  # (K, d) (mu_k - o_g) U, grouped
    logit_offset: np.ndarray  # (K,) a_k - 0.5 |m_k|^2
    log_kernel_norm: float  # sum log diag U - d/2 log 2 pi
    means: np.ndarray  # (K, d) input-space means, grouped order
    log_weights: np.ndarray  # (K,) grouped order
    origins: np.ndarray  # (G, d) input-space frame origin of each group
    origins_white: np.ndarray  # (G, d) (o_g - c) U, to find the nearest group
    global_white_means: np.ndarray  # (K, d) (mu_k - c) U, grouped order
    group_radius: np.ndarray  # (G,) largest |m_k| of each group (its own frame)
    group_starts: np.ndarray  # (G + 1,)

    @property
    def n_components(self):
        return self.white_means.shape[0]

    @property
    def n_features(self):
        return self.white_means.shape[1]

    @property
    def n_groups(self):
        return self.origins.shape[0]

    # Per-call constants of the single-frame evaluation, computed on first
    # use (a one-query call would otherwise spend more on them than on its
    # arithmetic); ``replace`` starts a new cache.

    @cached_property
    def probe_columns(self):
        """``[m_k; b_k]`` of ``N_PROBE`` evenly spaced components, (d + 1, P)."""
        probe = evenly_spaced(self.n_components, N_PROBE)
        return np.vstack([self.white_means[probe].T, self.logit_offset[probe]])

    @cached_property
    def sample_columns(self):
        """``[m_k; b_k; 1]`` of ``N_SAMPLE`` evenly spaced components."""
        sample = evenly_spaced(self.n_components, N_SAMPLE)
        ones = np.ones(sample.size)
        return np.vstack([self.white_means[sample].T, self.logit_offset[sample], ones])

    @cached_property
    def column_blocks(self):
        """Per-call constants of :func:`~skdensity._core._shared.shared_task`
        (exponent columns and moment matrices of each block of components),
        kept by the task when they are small; keyed by block and order."""
        return {}

    @cached_property
    def scale_covariance(self):
        """The kernel covariance ``(U U^T)^-1``, (d, d) (computed once:
        calls of the ascent read it at every step)."""
        return covariance_from_factor(self.prec_chol)

    @cached_property
    def white_means_t(self):
        """``white_means`` transposed, C-ordered (d, K): its rows are the
        operands of matrix-vector products over the components."""
        return np.ascontiguousarray(self.white_means.T)

    @cached_property
    def data_radius(self):
        """Largest ``|(mu_k - c) U|``: the data's reach from the centre, in
        bandwidths."""
        white = self.global_white_means
        return float(np.sqrt(np.einsum("ij,ij->i", white, white).max(initial=0.0)))

    @cached_property
    def exponent_floor(self):
        """``(max |m_k|, min b_k)``: with ``-|y| max|m_k| + min b_k - s``, a
        lower bound of a query's exponents in its frame."""
        white = self.white_means
        reach = np.sqrt(np.einsum("ij,ij->i", white, white).max(initial=0.0))
        return float(reach), float(self.logit_offset.min(initial=np.inf))


@dataclass(frozen=True)
class ComponentPrecisionMixture:
    """Gaussian mixture whose components have their own precisions.

    Build with :func:`make_mixture`.
    """

    log_weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d)
    prec_chol: np.ndarray  # (K, d, d)
    precisions: np.ndarray  # (K, d, d)
    # (K,) log of weight times normalising constant:
    # a_k + sum log diag U_k - d/2 log 2 pi
    log_coef: np.ndarray

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    @cached_property
    def scale_covariance(self):
        """The weight-averaged component covariance ``sum_k w_k P_k^-1``,
        (d, d), weights normalised from the log-weights (computed once)."""
        w = np.exp(self.log_weights - self.log_weights.max())
        covariances = np.array([covariance_from_factor(U) for U in self.prec_chol])
        return np.einsum("k,kij->ij", w / w.sum(), covariances)


def covariance_from_factor(U):
    """``(U U^T)^{-1} = U^{-T} U^{-1}`` for an upper-triangular factor ``U``."""
    inv = linalg.solve_triangular(U, np.eye(U.shape[0]), lower=False)
    return inv.T @ inv


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
        return shared_mixture(log_weights, means, prec_chol)
    log_det = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    return ComponentPrecisionMixture(
        log_weights=log_weights,
        means=means,
        prec_chol=prec_chol,
        precisions=prec_chol @ prec_chol.transpose(0, 2, 1),
        log_coef=log_weights + log_det - 0.5 * d * LOG_2PI,
    )


#: Data spanning at most this many bandwidths around their centre are
#: evaluated in one frame. Squared distances come from
#: ``|y|^2 - 2 y.m + |m|^2``, whose rounding error grows like
#: ``eps (|y| + |m|)^2``: about 1e-13 here, below the 1e-12 promised for log f.
COMPACT_RADIUS = 32.0

#: Widest span of the kernel centres, in bandwidths around their centre:
#: beyond it, squared distances between them overflow float64.
MAX_SPAN = 1e150

#: Diameter, in bandwidths, of the spatial groups of wider data: each group
#: is evaluated in a frame centred on one of its components.
GROUP_DIAMETER = 16.0


def shared_mixture(log_weights, means, prec_chol):
    """:class:`SharedPrecisionMixture`, grouped when the data are wide."""
    d = means.shape[1]
    # The centre is the weighted mean of the means: it keeps |m_k| at the
    # scale of the data spread in bandwidths, whatever the data's offset.
    center = np.exp(log_weights - logsumexp(log_weights)) @ means
    white = global_white = (means - center) @ prec_chol
    with np.errstate(over="ignore"):
        radius = np.sqrt(np.einsum("ij,ij->i", white, white).max(initial=0.0))
    if not radius <= MAX_SPAN:
        span = np.abs(white).max()  # finite where the squares overflowed
        raise ValueError(
            f"The kernel centres lie up to {span:.3g} bandwidths from their "
            f"centre; squared distances overflow float64 beyond {MAX_SPAN:.0e}. "
            "Use a larger bandwidth, or split or rescale the data."
        )
    if radius <= COMPACT_RADIUS:
        origins = center[None, :]
        starts = np.array([0, means.shape[0]])
    else:
        # Cells of diameter GROUP_DIAMETER in the (approximate) global frame;
        # each group's frame origin is one of its members, so the members'
        # whitened offsets are computed from exact input-space differences.
        # Cell indices stay floats: data may span more bandwidths than int64.
        cells = np.floor(white * (np.sqrt(d) / GROUP_DIAMETER))
        _, inverse = np.unique(cells, axis=0, return_inverse=True)
        by_group = np.argsort(inverse.ravel(), kind="stable")
        counts = np.bincount(inverse.ravel())
        starts = np.concatenate([[0], np.cumsum(counts)])
        log_weights, means = log_weights[by_group], means[by_group]
        global_white = global_white[by_group]
        origins = means[starts[:-1]]
        white = (means - np.repeat(origins, counts, axis=0)) @ prec_chol
    return SharedPrecisionMixture(
        prec_chol=prec_chol,
        center=center,
        white_means=white,
        logit_offset=log_weights - 0.5 * np.einsum("ij,ij->i", white, white),
        log_kernel_norm=float(np.log(np.diag(prec_chol)).sum() - 0.5 * d * LOG_2PI),
        means=means,
        log_weights=log_weights,
        origins=origins,
        origins_white=(origins - center) @ prec_chol,
        global_white_means=global_white,
        group_radius=np.sqrt(
            np.maximum.reduceat(np.einsum("ij,ij->i", white, white), starts[:-1])
        )
        if len(white)
        else np.zeros(len(starts) - 1),
        group_starts=starts,
    )


def restrict_components(mixture, idx):
    """The shared-precision mixture of components ``idx`` only.

    Log-weights are kept, not renormalised. ``idx`` indexes the mixture's
    own (grouped) component order, as ``mixture.means`` lists them. A
    single-frame mixture keeps its frame (no component is whitened again);
    a grouped one is rebuilt from the subset, which is usually compact.
    """
    if mixture.n_groups == 1:
        white = mixture.white_means[idx]
        return replace(
            mixture,
            white_means=white,
            logit_offset=mixture.logit_offset[idx],
            means=mixture.means[idx],
            global_white_means=mixture.global_white_means[idx],
            group_radius=np.sqrt(np.einsum("ij,ij->i", white, white).max(initial=0.0))[
                None
            ],
            log_weights=mixture.log_weights[idx],
            group_starts=np.array([0, len(idx)]),
        )
    return shared_mixture(
        mixture.log_weights[idx], mixture.means[idx], mixture.prec_chol
    )
