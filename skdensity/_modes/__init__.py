"""Mode finding, mode clustering and ridges on any density with derivatives.

Densities are reached only through their public methods (``score_samples``,
``gradient``, ``hessian``, ``gradient_and_hessian``) and the documented
mode-finding hook of Gaussian-mixture estimators
(:meth:`~skdensity._base.GaussianMixtureDerivativesMixin.mode_finding_hook`).
"""

from ._cluster import ModeClustering
from ._find import ModeFindingResult, find_modes
from ._hierarchy import ModeHierarchy
from ._ridges import RidgeResult, find_ridges

__all__ = [
    "ModeClustering",
    "ModeFindingResult",
    "ModeHierarchy",
    "RidgeResult",
    "find_modes",
    "find_ridges",
]
