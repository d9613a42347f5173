"""skdensity: densities and their derivatives, the scikit-learn way.

Gaussian KDE and Gaussian mixture estimators whose ``gradient`` and ``hessian``
come from closed forms.
"""

from ._distribution import DensityLevelResult
from ._kde import GaussianKDE
from ._mixture import BayesianGaussianMixtureGrad, GaussianMixtureGrad
from ._modes import ModeClustering, ModeFindingResult, ModeHierarchy, find_modes

__version__ = "0.1.0.dev0"

__all__ = [
    "BayesianGaussianMixtureGrad",
    "DensityLevelResult",
    "GaussianKDE",
    "GaussianMixtureGrad",
    "ModeClustering",
    "ModeFindingResult",
    "ModeHierarchy",
    "__version__",
    "find_modes",
]
