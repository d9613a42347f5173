r"""Approximate evaluation of a Gaussian KDE for large data: error bounds and dispatch.

Both approximate paths work in whitened coordinates :math:`y = (x - c) U`
(:math:`U U^\top = H^{-1}`), where every kernel is the isotropic unit Gaussian
:math:`\kappa\, e^{-\|y - m_i\|^2/2}`, :math:`\kappa = \det U\,(2\pi)^{-d/2}`.
Errors are stated for the derivatives with respect to :math:`y`
(:math:`\nabla_y = U^{-1}\nabla_x`, :math:`\nabla_y^2 = U^{-1}\nabla_x^2
U^{-\top}`), that is in units of the kernel bandwidth, relative to :math:`f`:

.. math::

    |\tilde f - f| \le \epsilon f, \quad
    \|\nabla_y \tilde f - \nabla_y f\| \le \epsilon f, \quad
    \|\nabla_y^2 \tilde f - \nabla_y^2 f\|_2 \le \epsilon f,

with :math:`\epsilon = \mathrm{rtol}` (a proven bound for the tree path, a
derived estimate with a safety margin for the binned path). For the
logarithm this gives, to first order in rtol, with
:math:`g = \nabla_y \log f` and :math:`h = \nabla_y^2 \log f`,

.. math::

    |\Delta \log f| \le \epsilon, \quad
    \|\Delta g\| \le \epsilon (1 + \|g\|), \quad
    \|\Delta h\|_2 \le \epsilon (1 + \|h\|_2 + 2\|g\| + 3\|g\|^2).

The paths are :mod:`skdensity._tree_path` (any d) and
:mod:`skdensity._binned_path` (d <= 3); :class:`Approximation` holds them
and resolves ``"auto"``.
"""

from ._binned_path import MAX_FEATURES, BinnedEvaluator
from ._gaussian_mixture_math import log_density_derivatives
from ._tree_path import TreeEvaluator

ALGORITHMS = ("exact", "tree", "binned", "auto")

#: "auto" evaluates exactly while n_kernels * n_queries stays below this.
AUTO_EXACT_MAX_PAIRS = 2e7
#: "auto" uses the binned path up to this dimension, the tree path up to
#: AUTO_TREE_MAX_FEATURES, and exact evaluation beyond.
AUTO_BINNED_MAX_FEATURES = 3
AUTO_TREE_MAX_FEATURES = 6


#: "auto" builds no approximation below this many kernels.
AUTO_MIN_KERNELS = 20_000


class Approximation:
    """The approximate evaluators of a fitted KDE, built once at fit.

    Parameters
    ----------
    algorithm : {"tree", "binned", "auto"}
    X_fit, weights, prec_chol : ndarray
        Kernel centres (n, d), weights (n,) summing to one, ``U`` (d, d).
    mixture : SharedPrecisionMixture
        The fitted mixture, for exact evaluation.
    rtol : float
    grid_spacing : float or None

    Notes
    -----
    ``"auto"`` builds nothing below :data:`AUTO_MIN_KERNELS` kernels (so it
    evaluates exactly); otherwise a tree for ``d <= 6`` and a grid for
    ``d <= 3`` when one fits in :data:`~skdensity._binned_path.MAX_GRID_NODES`
    nodes. At each call it evaluates exactly while ``n_kernels * n_queries <=
    AUTO_EXACT_MAX_PAIRS``, otherwise by the grid if built, else by the tree,
    else exactly.
    """

    def __init__(
        self, algorithm, X_fit, weights, prec_chol, mixture, rtol, grid_spacing
    ):

        n, d = X_fit.shape
        self.algorithm = algorithm
        self.mixture = mixture
        self.n_kernels = n
        self.tree = self.binned = None
        if algorithm == "binned" and d > MAX_FEATURES:
            raise ValueError(
                f"algorithm='binned' works for at most {MAX_FEATURES} features; "
                f"the data have {d}. Use algorithm='tree' or 'auto'."
            )
        if algorithm == "auto" and (n < AUTO_MIN_KERNELS or d > AUTO_TREE_MAX_FEATURES):
            return
        self.tree = TreeEvaluator(X_fit, weights, prec_chol, rtol, mixture)
        want_grid = algorithm == "binned" or (
            algorithm == "auto" and d <= AUTO_BINNED_MAX_FEATURES
        )
        if want_grid:
            args = (X_fit, weights, prec_chol, rtol, self.tree, grid_spacing)
            try:
                self.binned = BinnedEvaluator(*args)
            except ValueError:
                if algorithm == "binned":
                    raise
                # "auto": the data span too many bandwidths for a grid.

    def path(self, n_queries):
        """The path a call with ``n_queries`` queries takes."""
        if self.algorithm != "auto":
            return self.algorithm
        if self.n_kernels * n_queries <= AUTO_EXACT_MAX_PAIRS:
            return "exact"
        if self.binned is not None:
            return "binned"
        return "tree" if self.tree is not None else "exact"

    def evaluate(self, X, order, n_jobs=None):
        """``(log_f, grad_log_f, hess_log_f)`` at validated float64 ``X``."""
        path = self.path(X.shape[0])
        if path == "binned":
            return self.binned.evaluate(X, order, n_jobs)
        if path == "tree":
            return self.tree.evaluate(X, order, n_jobs)
        return log_density_derivatives(X, self.mixture, order, n_jobs=n_jobs)
