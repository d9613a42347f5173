"""Approximate evaluation of a Gaussian KDE for large data (tree, binned).

Depends only on :mod:`skdensity._core`; :class:`Approximation` is the wing's
interface to the estimators.
"""

from ._dispatch import ALGORITHMS, Approximation

__all__ = ["ALGORITHMS", "Approximation"]
