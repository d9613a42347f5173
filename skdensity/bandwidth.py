"""Bandwidth matrix selectors for kernel densities and their derivatives.

Each selector returns the ``(d, d)`` kernel covariance :math:`H` (a ``(1, 1)``
array for one feature), ready for ``GaussianKDE(bandwidth=H)``, and follows
the definitions of R's ks package (``Hns``, ``Hpi``, ``Hscv``, ``Hlscv``;
``deriv.order`` is ``deriv_order``). A gradient or Hessian estimated with a
bandwidth tuned for the density is undersmoothed: the optimal :math:`H` for
the ``r``-th derivative shrinks like :math:`n^{-2/(d+2r+4)}`, not
:math:`n^{-2/(d+4)}`.
"""

from ._selectors import (
    lscv_bandwidth,
    normal_scale_bandwidth,
    plugin_bandwidth,
    scv_bandwidth,
)

__all__ = [
    "lscv_bandwidth",
    "normal_scale_bandwidth",
    "plugin_bandwidth",
    "scv_bandwidth",
]
