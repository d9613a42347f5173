"""skdensity: densities and their derivatives, the scikit-learn way.

Gaussian KDE and Gaussian mixture estimators whose ``gradient`` and ``hessian``
come from closed forms.

The public names are imported on first use (PEP 562), so that the command
line's ``--help`` and argument errors answer without loading scikit-learn;
``from skdensity import GaussianKDE`` works as usual.
"""

import importlib

__version__ = "0.1.0.dev0"

#: Public name -> the private module defining it.
_EXPORTS = {
    "BayesianGaussianMixtureGrad": "._mixture",
    "DensityLevelResult": "._distribution",
    "GaussianKDE": "._kde",
    "GaussianMixtureGrad": "._mixture",
    "ModeClustering": "._modes",
    "ModeFindingResult": "._modes",
    "ModeHierarchy": "._modes",
    "RidgeResult": "._modes",
    "TransformedDensity": "._transformed",
    "find_modes": "._modes",
    "find_ridges": "._modes",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})
