"""Entry points of the core: evaluate a mixture, its responsibilities, and
the density-scale derivatives."""

import numpy as np
from scipy.special import logsumexp

from ._blocks import (
    ROW_ALIGN,
    SERIAL_PRODUCT,
    empty_outputs,
    for_each_row_chunk,
    plan_blocks,
    single_threaded_blas,
    store_rows,
    working_memory_bytes,
)
from ._component import component_logits, component_residuals, component_task
from ._grouped import few_queries_offsets, grouped_task, spatial_order
from ._representation import N_PROBE, SharedPrecisionMixture
from ._shared import few_queries, moment_rows, n_moments, shared_task


def _single_threaded(task, *args):
    # Also inside the workers of a process-based backend (loky, dask), which
    # the caller's BLAS limit does not reach; nested uses share one limit.
    with single_threaded_blas():
        return task(*args)


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
        Number of joblib workers over query chunks. Results do not depend on
        it: blocks are cut at the same rows whatever the number of workers.

    Returns
    -------
    log_f : ndarray of shape (m,)
    grad_log_f : ndarray of shape (m, d) or None
        ``None`` when ``order < 1``.
    hess_log_f : ndarray of shape (m, d, d) or None
        ``None`` when ``order < 2``.

    Notes
    -----
    Extra memory (outputs aside) stays within scikit-learn's
    ``working_memory``: a few cache-sized blocks of kernel terms plus
    per-query accumulators of a row chunk, whatever ``m`` and ``K`` are.
    """
    m = X.shape[0]
    K, d = mixture.n_components, mixture.n_features
    outputs = 8 * (1 + d + d * d)
    # The lower-order outputs are held throughout though the caller may
    # want only the highest one.
    reserved = 8 * m * (1 + d) if order == 2 else 8 * m * order
    shared = isinstance(mixture, SharedPrecisionMixture)
    if shared and 0 < m < ROW_ALIGN and 8 * m * K * (2 + d) <= _few_bytes():
        # A few queries (not padded, see ROW_ALIGN) in one block.
        if mixture.n_groups == 1:
            with single_threaded_blas():
                return few_queries(X, mixture, order)
        if m == 1 and _near_the_data(X, mixture):
            # One query against data in groups, from its offsets to every
            # kernel: cheaper than the groups' padded blocks for one query,
            # and exact where the query lies among the data (beyond, the
            # offsets would round like the query's coordinates).
            with single_threaded_blas():
                return few_queries_offsets(X, mixture, order)
    if shared:
        # Per query: augmented row, moment sums, outputs and finishing
        # temporaries; per component of a block: its columns and moments.
        q = n_moments(d, order)
        per_row = 8 * (d + 2 + q + moment_rows(q) + N_PROBE) + 4 * outputs
        per_col = 8 * (d + 2 + moment_rows(q))
        task = shared_task
        if mixture.n_groups > 1:
            # Per query also its frames, distances to every group and
            # running moments.
            per_row += 8 * (5 * d + mixture.n_groups + q)
            task = grouped_task
        # Products of at most SERIAL_PRODUCT multiply-adds per ROW_ALIGN rows
        # (or per call of fewer rows, which is not padded).
        width = max(d + 2, moment_rows(q)) * min(max(m, 1), ROW_ALIGN)
        plan = plan_blocks(
            m,
            K,
            per_row,
            per_col,
            n_jobs=n_jobs,
            reserved=reserved,
            max_cols=SERIAL_PRODUCT // width,
        )
    else:
        # One cell is a query row against all K components: (m, K, d) residuals
        # and derivatives, (m, K) log-probabilities and responsibilities.
        per_cell = 8 * K * (3 + 3 * d + d * d)
        # The product of the responsibilities with the K precisions is the
        # largest: at most SERIAL_PRODUCT multiply-adds per block.
        plan = plan_blocks(
            m,
            1,
            4 * outputs,
            0,
            per_cell,
            n_jobs=n_jobs,
            reserved=reserved,
            max_rows=SERIAL_PRODUCT // (K * d * d),
        )
        task = component_task
    where = None
    if task is grouped_task and m > 1:
        # Queries in spatial order, so that a block of rows lies near few
        # groups and the others are skipped; results go back in place.
        where = spatial_order(X, mixture)
        X = X[where]
    elif len(plan.tasks) == 1:
        with single_threaded_blas():
            return task(X, mixture, order, plan)
    out = empty_outputs(m, d, order)
    for_each_row_chunk(
        lambda Xc: _single_threaded(task, Xc, mixture, order, plan),
        X,
        plan.tasks,
        lambda rows, values: store_rows(
            out, rows if where is None else where[rows], values
        ),
        n_jobs=plan.n_workers,
    )
    return out


#: Most bytes of kernel terms (and offsets) of the few-query paths: beyond,
#: one query's arithmetic outweighs the blocks' overhead anyway.
_FEW_BYTES = 2**24

#: Queries within this many bandwidths beyond the data's reach take the
#: offsets path (their differences from the kernels' centres are exact or
#: nearly: the two are of one magnitude).
_NEAR = 1024.0


def _few_bytes():
    return min(_FEW_BYTES, working_memory_bytes())


def _near_the_data(X, mixture):
    y = (X - mixture.center) @ mixture.prec_chol
    return bool(
        np.sqrt(np.einsum("ij,ij->i", y, y)).max() <= mixture.data_radius + _NEAR
    )


def responsibilities(X, mixture):
    """Posterior component probabilities ``r_k(x)``, shape (m, K).

    Components are in the mixture's own order (``mixture.means`` for a
    shared-precision mixture, which groups wide data). This is an
    ``m x K x d`` computation from explicit residuals: meant for mixtures
    with few components or few queries.
    """
    if isinstance(mixture, SharedPrecisionMixture):
        white = (X[:, None, :] - mixture.means[None, :, :]) @ mixture.prec_chol
        logits = -0.5 * np.einsum("mkd,mkd->mk", white, white) + mixture.log_weights
    else:
        _, logits = component_logits(component_residuals(X, mixture), mixture)
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def to_density_scale(log_f, grad_log_f=None, hess_log_f=None, *, overwrite=False):
    """Turn derivatives of ``log f`` into derivatives of ``f``.

    ``grad f = f grad log f`` and
    ``hess f = f (hess log f + grad log f grad log f^T)``.

    Parameters
    ----------
    log_f : ndarray of shape (m,)
    grad_log_f : ndarray of shape (m, d), default=None
    hess_log_f : ndarray of shape (m, d, d), default=None
    overwrite : bool, default=False
        Write the density-scale gradient and Hessian into ``grad_log_f`` and
        ``hess_log_f`` (for a caller that no longer needs them): the only
        temporary is gradient-sized. Otherwise the results are allocated too.

    Returns
    -------
    f : ndarray of shape (m,)
    grad_f : ndarray of shape (m, d) or None
    hess_f : ndarray of shape (m, d, d) or None
    """
    f = np.exp(log_f)
    hess = None
    if hess_log_f is not None:
        # f (H + g g^T) as f H + (sqrt(f) g)(sqrt(f) g)^T: where f underflows
        # to 0 and g g^T overflows (queries far away), 0, not 0 x inf.
        root_g = grad_log_f * np.sqrt(f)[:, None]
        hess = hess_log_f if overwrite else hess_log_f.copy()
        hess *= f[:, None, None]
        for i in range(hess.shape[1]):
            hess[:, i] += root_g[:, i, None] * root_g
    grad = None
    if grad_log_f is not None:
        grad = grad_log_f if overwrite else grad_log_f.copy()
        grad *= f[:, None]
    return f, grad, hess
