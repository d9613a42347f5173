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

The paths are :mod:`skdensity._approximate._tree` (any d) and
:mod:`skdensity._approximate._binned` (d <= 3); :class:`Approximation` holds them
and resolves ``"auto"``.
"""

from .._core import log_density_derivatives
from ._binned import (
    MAX_FEATURES,
    BinnedEvaluator,
    binned_parameters,
    check_grid_spacing,
)
from ._tree import TreeEvaluator

ALGORITHMS = ("exact", "tree", "binned", "auto")

#: "auto" evaluates exactly while n_kernels * n_queries stays below this.
AUTO_EXACT_MAX_PAIRS = 2e7
#: "auto" builds a grid when n_kernels >= AUTO_KERNELS_PER_STENCIL * L**d,
#: L**d the nodes of one binning stencil (about 16**2 in 2-D at rtol=1e-4).
AUTO_KERNELS_PER_STENCIL = 50


class Approximation:
    r"""The approximate evaluators of a fitted KDE, built once at fit.

    Parameters
    ----------
    algorithm : {"tree", "binned", "auto"}
    mixture : SharedPrecisionMixture
        The fitted mixture (log-weights summing to one in exponent): the one
        input of every path.
    rtol : float
    grid_spacing : float or None

    Notes
    -----
    The rule of ``"auto"``. Binning costs :math:`L^d` grid updates per kernel
    (at fit) and :math:`L^d` grid reads per query, :math:`L` the stencil
    width (12 to 22 nodes, growing as rtol shrinks); exact evaluation costs
    :math:`n` kernel terms per query. So ``"auto"`` builds the grid when
    ``d <= 3``, :math:`n \ge 50 L^d` (about 13 000 kernels in 2-D, 300 000
    in 3-D at rtol=1e-4) and the grid fits in
    :data:`~skdensity._approximate._binned.MAX_GRID_NODES` nodes; then every call
    with ``n_kernels * n_queries > 2e7`` is binned, smaller calls are exact.
    Otherwise it evaluates exactly. It never picks the tree path on its own:
    truncation pays only when the bandwidth is small against the spread of
    the data (many points in few dimensions, well-separated clusters), which
    n, m and d do not tell; it serves as the binned path's fallback.
    """

    def __init__(self, algorithm, mixture, rtol, grid_spacing):
        n, d = mixture.n_components, mixture.n_features
        self.algorithm = algorithm
        self.mixture = mixture
        self.n_kernels = n
        self.tree = self.binned = None
        if algorithm == "binned" and d > MAX_FEATURES:
            raise ValueError(
                f"algorithm='binned' works for at most {MAX_FEATURES} features; "
                f"the data have {d}. Use algorithm='tree' or 'auto'."
            )
        if algorithm == "auto" and not _grid_pays(mixture, rtol, grid_spacing):
            return
        self.tree = TreeEvaluator(mixture, rtol)
        if algorithm != "tree":
            self.binned = BinnedEvaluator(mixture, rtol, self.tree, grid_spacing)

    def algorithm_for(self, n_queries):
        """The algorithm (``"exact"``, ``"tree"`` or ``"binned"``) a call
        with ``n_queries`` queries runs."""
        if self.algorithm != "auto":
            return self.algorithm
        if self.n_kernels * n_queries <= AUTO_EXACT_MAX_PAIRS:
            return "exact"
        return "binned" if self.binned is not None else "exact"

    def evaluate(self, X, order, n_jobs=None):
        """``(log_f, grad_log_f, hess_log_f)`` at validated float64 ``X``."""
        algorithm = self.algorithm_for(X.shape[0])
        if algorithm == "binned":
            return self.binned.evaluate(X, order, n_jobs)
        if algorithm == "tree":
            return self.tree.evaluate(X, order, n_jobs)
        return log_density_derivatives(X, self.mixture, order, n_jobs=n_jobs)


def _grid_pays(mixture, rtol, grid_spacing):
    """Whether ``"auto"`` builds a grid (the rule in :class:`Approximation`)."""
    n, d = mixture.n_components, mixture.n_features
    if d > MAX_FEATURES:
        return False
    check_grid_spacing(rtol, d, grid_spacing)
    white = mixture.global_white_means
    try:
        params = binned_parameters(
            rtol, d, white.max(axis=0) - white.min(axis=0), grid_spacing
        )
    except ValueError:  # the data span too many bandwidths for a grid
        return False
    stencil = (2 * params["n_spread"] + 2) ** d
    return n >= AUTO_KERNELS_PER_STENCIL * stencil
