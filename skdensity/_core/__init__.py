r"""Log-density, gradient and Hessian of a Gaussian mixture, in closed form.

This sub-package is the one numerical core of skdensity (pure numerics: it
imports nothing else of the package). A Gaussian KDE and a
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
  :math:`\bar m = \sum_k r_k m_k`. Per block of queries and components:
  one matrix product writes the exponents (the softmax shift folded in),
  ``exp`` runs in place, one matrix product with the rows
  :math:`[1, m_k, \mathrm{triu}(m_k m_k^\top)]` accumulates the moments; an
  online log-sum-exp joins the component blocks. No Python loop over
  components, no ``m x K x d`` array. The rounding of
  :math:`\|y\|^2 - 2 y\cdot m_k + \|m_k\|^2` grows like
  :math:`\epsilon (\|y\| + \|m_k\|)^2`, so one frame serves data within
  ``COMPACT_RADIUS`` (32) bandwidths of their centre; wider data are sorted
  into spatial groups, each evaluated in a frame centred on one of its
  members from exact input-space offsets, and their moments are joined
  without cancellation (:mod:`skdensity._core._grouped`). Accuracy then does not
  depend on where the data sit or how far they spread.
* **per-component** (a mixture with its own precisions). The residuals of
  all components are formed in input space, :math:`x - \mu_k`, then
  whitened (one batched matrix product), :math:`g_k` explicitly from them;
  the Hessian uses the centred form above, which is free of cancellation
  far from the data, and squared norms that would overflow are rescaled, so
  log-derivatives stay finite for every finite query.

Blocks are sized to stay in cache, row chunks (the unit of ``n_jobs``,
worker threads as many as BLAS would use by default) to stay within
scikit-learn's ``working_memory`` together. Every matrix product is cut into
slabs of at most ``SERIAL_PRODUCT`` multiply-adds, which OpenBLAS runs on the
calling thread (its pool is process-wide), and rows are padded to full BLAS
tiles, so that in any call of at least ``ROW_ALIGN`` queries each query's
result depends on that query alone, whatever the threads. Calls of fewer
queries take a short path without padding: one block with exact row maxima
as shifts (:func:`~skdensity._core._shared.few_queries`), or, for data in
groups, exact offsets to every kernel
(:func:`~skdensity._core._grouped.few_queries_offsets`).

Marginals, conditionals, convolutions and probabilities are closed forms in
the covariances: they work on the moment form :class:`MomentMixture`
(normalised log-weights, means, one shared or per-component covariances;
:mod:`skdensity._core._moments`, :mod:`skdensity._core._probability`), and a
convolved mixture goes back to the evaluation form through
:func:`make_mixture`, so Gaussian integrals are one evaluation of the paths
above.
"""

# The wing's interface: the rest of the package imports only these names.
from ._blocks import (
    ROW_ALIGN,
    effective_n_jobs,
    empty_outputs,
    for_each_row_chunk,
    plan_blocks,
    single_threaded_blas,
    store_rows,
    working_memory_bytes,
)
from ._compat import (
    HasMethods,
    Interval,
    Parallel,
    StrOptions,
    check_is_fitted,
    delayed,
    discard_fit_on_error,
    filters_changed,
    fit_context,
    gen_batches,
    validate_data,
    validate_params,
    validate_queries,
)
from ._compat import _check_sample_weight as check_sample_weight
from ._evaluate import log_density_derivatives, responsibilities, to_density_scale
from ._moments import (
    MomentMixture,
    condition,
    conditional_moments,
    convolve,
    marginalize,
    moment_mixture,
    precision_cholesky,
)
from ._probability import box_probability, level_from_draws, sample
from ._representation import (
    LOG_2PI,
    ComponentPrecisionMixture,
    SharedPrecisionMixture,
    make_mixture,
    restrict_components,
)

__all__ = [
    "LOG_2PI",
    "ROW_ALIGN",
    "ComponentPrecisionMixture",
    "HasMethods",
    "Interval",
    "MomentMixture",
    "Parallel",
    "SharedPrecisionMixture",
    "StrOptions",
    "box_probability",
    "check_is_fitted",
    "check_sample_weight",
    "condition",
    "conditional_moments",
    "convolve",
    "delayed",
    "discard_fit_on_error",
    "effective_n_jobs",
    "empty_outputs",
    "filters_changed",
    "fit_context",
    "for_each_row_chunk",
    "gen_batches",
    "level_from_draws",
    "log_density_derivatives",
    "make_mixture",
    "marginalize",
    "moment_mixture",
    "plan_blocks",
    "precision_cholesky",
    "responsibilities",
    "restrict_components",
    "sample",
    "single_threaded_blas",
    "store_rows",
    "to_density_scale",
    "validate_data",
    "validate_params",
    "validate_queries",
    "working_memory_bytes",
]
