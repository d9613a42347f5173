r"""Marginals, conditionals, probabilities and level sets, written once.

Every estimator of skdensity is a Gaussian mixture, and so are its marginals
and conditionals; its box probabilities reduce to normal CDFs and its
Gaussian integrals to one evaluation of a convolved mixture. The methods of
:class:`GaussianMixtureDistributionMixin` read the estimator's mixture in
moment form (``_moment_mixture()``) and build fitted estimators from one
(``_from_moment_mixture()``); the formulas live in :mod:`skdensity._core`.
"""

from ._marginals import MarginalsMixin
from ._probabilities import DensityLevelResult, ProbabilitiesMixin


class GaussianMixtureDistributionMixin(MarginalsMixin, ProbabilitiesMixin):
    """Marginals, conditionals, probabilities for Gaussian-mixture estimators.

    A class using this mixin implements ``_moment_mixture()``, returning its
    density as a :class:`~skdensity._core.MomentMixture` (normalised weights,
    components in the estimator's own order), and
    ``_from_moment_mixture(mixture, feature_names)``, returning a fitted
    estimator of its kind with that density.
    """


__all__ = ["DensityLevelResult", "GaussianMixtureDistributionMixin"]
