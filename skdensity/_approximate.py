r"""Approximate evaluation of a Gaussian KDE for large data: error bounds and dispatch.

Both approximate paths work in whitened coordinates :math:`y = (x - c) U`
(:math:`U U^\top = H^{-1}`), where every kernel is the isotropic unit Gaussian
:math:`\kappa\, e^{-\|y - m_i\|^2/2}`, :math:`\kappa = \det U\,(2\pi)^{-d/2}`.
Errors are stated for the derivatives with respect to :math:`y`
(:math:`\nabla_y = U^{-1}\nabla_x`, :math:`\nabla_y^2 = U^{-1}\nabla_x^2
U^{-\top}`), that is in units of the kernel bandwidth, relative to :math:`f`.

Tail bound
----------
A set :math:`S` of kernels whose centres all lie farther than :math:`r` from
:math:`y` (total weight :math:`W_S`) contributes at most

.. math::

    \sum_{i\in S} w_i \kappa e^{-s_i^2/2} \le \kappa W_S\, e^{-r^2/2},
    \quad
    \Big\|\sum_{i\in S} w_i \kappa e^{-s_i^2/2} (m_i - y)\Big\|
        \le \kappa W_S\, r e^{-r^2/2},
    \quad
    \Big\|\sum_{i\in S} w_i \kappa e^{-s_i^2/2}
        \big((m_i - y)(m_i - y)^\top - I\big)\Big\|_2
        \le \kappa W_S\, (r^2 - 1) e^{-r^2/2}

to :math:`f`, :math:`\nabla_y f` and :math:`\nabla_y^2 f` (spectral norm),
for :math:`r \ge \sqrt 3`, because :math:`s^k e^{-s^2/2}` and
:math:`(s^2 - 1) e^{-s^2/2}` decrease beyond :math:`\sqrt 3`. We write
:math:`\kappa W_S\, g_k(r)` for these bounds, :math:`g_0 = e^{-r^2/2}`,
:math:`g_1 = r e^{-r^2/2}`, :math:`g_2 = (r^2 - 1) e^{-r^2/2}`.
"""

import numpy as np

#: Smallest truncation radius (whitened units); the tail bounds need r >= sqrt 3.
MIN_RADIUS = 3.0

ALGORITHMS = ("exact", "tree", "binned", "auto")

#: "auto" evaluates exactly while n_kernels * n_queries stays below this.
AUTO_EXACT_MAX_PAIRS = 2e7
#: "auto" uses the binned path up to this dimension, the tree path up to
#: AUTO_TREE_MAX_FEATURES, and exact evaluation beyond.
AUTO_BINNED_MAX_FEATURES = 3
AUTO_TREE_MAX_FEATURES = 6


def log_tail_factor(r, order):
    r"""Log of :math:`\max_{k \le \mathrm{order}} g_k(r)`, the tail bound per unit
    weight (see the module docstring); ``r`` may be an array, ``r >= sqrt 3``."""
    r = np.asarray(r, dtype=np.float64)
    log_g = -0.5 * r**2
    if order >= 1:
        log_g = log_g + np.log(np.maximum(r, 1.0))
    if order >= 2:
        # (r^2 - 1) >= r for r >= golden ratio; the max of the three orders.
        log_g = np.maximum(log_g, -0.5 * r**2 + np.log(np.maximum(r**2 - 1, 1.0)))
    return log_g


def radius_for_level(log_level, order, r_min=MIN_RADIUS):
    r"""Smallest ``r >= r_min`` with ``log_tail_factor(r, order) <= log_level``.

    Solves :math:`r^2 = 2(\log p_k(r) - \mathrm{level})` by fixed-point
    iteration (the right side grows like :math:`\log r`, so it converges in a
    few steps) and returns ``inf`` where ``log_level`` is ``-inf``.
    """
    log_level = np.asarray(log_level, dtype=np.float64)
    target = np.where(np.isfinite(log_level), -log_level, 0.0)
    r = np.full(log_level.shape, r_min)
    for _ in range(30):
        log_poly = log_tail_factor(r, order) + 0.5 * r**2
        r = np.sqrt(np.maximum(2.0 * (log_poly + target), r_min**2))
    # A final safety step: the iteration approaches the root from below.
    r = r * (1 + 1e-9) + 1e-9
    return np.where(log_level == -np.inf, np.inf, np.maximum(r, r_min))


def choose_algorithm(algorithm, n_kernels, n_queries, n_features, has_grid):
    """Resolve ``"auto"``: the path ``GaussianKDE(algorithm="auto")`` takes.

    Exact evaluation while ``n_kernels * n_queries <= AUTO_EXACT_MAX_PAIRS``;
    otherwise the binned path when ``n_features <= 3`` and a grid was built at
    fit, the tree path when ``n_features <= 6``, exact evaluation beyond
    (truncation saves little in high dimension).
    """
    if algorithm != "auto":
        return algorithm
    if n_kernels * n_queries <= AUTO_EXACT_MAX_PAIRS:
        return "exact"
    if n_features <= AUTO_BINNED_MAX_FEATURES and has_grid:
        return "binned"
    if n_features <= AUTO_TREE_MAX_FEATURES:
        return "tree"
    return "exact"
