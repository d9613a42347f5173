r"""Probabilities, Gaussian integrals and highest density regions.

Box probabilities and CDFs are sums of normal CDFs
(:mod:`skdensity._core._probability`); Gaussian integrals are one
evaluation of a convolved mixture; density levels are order statistics of
the density at its own draws.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from scipy.special import logsumexp

from .._core import (
    box_probability,
    check_is_fitted,
    convolve,
    level_from_draws,
    log_density_derivatives,
    sample,
    validate_data,
)
from ._inputs import as_float_arrays, as_generator, as_points, shaped_like, squeeze


@dataclass(frozen=True)
class DensityLevelResult:
    r"""Result of ``density_level``: the density thresholds of highest density regions.

    Fields are floats when ``prob`` was a scalar, arrays shaped like it
    otherwise.

    Attributes
    ----------
    prob : float or ndarray
        The probabilities asked for.
    level : float or ndarray
        The thresholds :math:`c`: the region :math:`\{x: f(x) \ge c\}` holds
        probability ``prob``. In the units of ``exp(score_samples)``, ready
        for a contour plot of it (a larger ``prob`` gives a lower level).
    log_level : float or ndarray
        :math:`\log c`, comparable with ``score_samples`` where :math:`c`
        underflows.
    level_std : float or ndarray
        Monte Carlo standard error of ``level``, from the spread of the
        order statistics one binomial standard deviation of rank around it.
    coverage_std : float or ndarray
        Standard deviation of the probability the region
        :math:`\{f \ge c\}` actually holds, about ``prob``:
        :math:`\approx \sqrt{p (1 - p) / n}` (exactly that of a Beta order
        statistic).
    n_samples : int
        Number of draws the levels come from.
    """

    prob: object
    level: object
    log_level: object
    level_std: object
    coverage_std: object
    n_samples: int


class ProbabilitiesMixin:
    """``cdf``, ``integrate_*`` and ``density_level``."""

    def _box(self, low, high, maxpts, abseps, random_state):
        low, high = as_float_arrays(low, high)
        d = self.n_features_in_
        low, single = as_points(low, d, "low", allow_infinite=True)
        high, _ = as_points(high, d, "high", allow_infinite=True)
        p = box_probability(
            self._moment_mixture(), low, high, maxpts=maxpts, abseps=abseps,
            rng=as_generator(random_state) if d > 2 else None,
        )  # fmt: skip
        return squeeze(p, single)

    def cdf(self, X, *, maxpts=None, abseps=1e-5, random_state=None):
        r"""Cumulative distribution function :math:`P(X' \le x)`, componentwise.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query points; infinite coordinates are allowed (``+inf`` leaves
            that feature unconstrained).
        maxpts : int, default=None
            Most integration points per normal CDF, for 3 or more features
            (scipy's default ``1e6 * n_features`` when None).
        abseps : float, default=1e-5
            Absolute error target of each normal CDF, for 3 or more
            features.
        random_state : int, numpy Generator or RandomState, default=None
            The randomisation of the quasi-Monte Carlo rule, for 3 or more
            features; an int makes the result reproducible.

        Returns
        -------
        cdf : ndarray of shape (n_queries,)

        Notes
        -----
        :math:`F(x) = \sum_k w_k \Phi_d(x; \mu_k, \Sigma_k)`. Accuracy and
        cost, per (query, component) pair:

        - 1 feature: :func:`scipy.special.ndtr`, to rounding; the whole
          computation is a vectorised ``n_queries x n_components`` product.
        - 2 features: :func:`scipy.stats.multivariate_normal.cdf`, Genz's
          bivariate algorithm (1e-15 absolute), about 15 microseconds each.
        - 3 or more: the same function's randomised quasi-Monte Carlo (Genz's
          lattice rules), refined until three standard errors are below
          ``abseps`` or ``maxpts`` points are used; about 1-3 ms each in 3-D
          at the default ``abseps``, and the error of the mixture is at most
          ``abseps`` (a weighted mean of the components' errors).

        Components sharing one covariance (a KDE, a tied mixture) are passed
        to scipy in one call; scipy still loops over the pairs in Python, so
        a KDE of ``n`` points costs ``n_queries * n`` pairs: subsample or
        use the marginal of fewer features where that is too slow.
        For a :class:`BayesianGaussianMixtureGrad` the probabilities are
        those of the normalised density (see :meth:`marginal`).

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianKDE
        >>> X = np.random.default_rng(0).normal(size=(50, 2))
        >>> kde = GaussianKDE().fit(X)
        >>> kde.cdf([[np.inf, np.inf], [-np.inf, 0.0]])
        array([1., 0.])
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, dtype=np.float64, ensure_all_finite=False
        )
        low = np.full_like(X, -np.inf)
        return self._box(low, X, maxpts, abseps, random_state).reshape(-1)

    def integrate_box(self, low, high, *, maxpts=None, abseps=1e-5, random_state=None):
        r"""Probability of a box, :math:`P(\mathrm{low} < X \le \mathrm{high})`.

        Parameters
        ----------
        low, high : array-like of shape (n_features,) or (n_boxes, n_features)
            Corners of the box (or of one box per row); infinite entries are
            allowed. A box with ``low > high`` along an odd number of axes
            gives a negative value, as :class:`scipy.stats.gaussian_kde`.
        maxpts, abseps, random_state
            As in :meth:`cdf` (used for 3 or more features).

        Returns
        -------
        probability : float or ndarray of shape (n_boxes,)
            A float for one box.

        Notes
        -----
        :math:`\sum_k w_k\, P_k(\mathrm{low} < X \le \mathrm{high})`, with
        the per-component probabilities of :meth:`cdf` (its Notes give the
        accuracy and cost). In one dimension the difference of normal CDFs
        is taken in the tail that keeps it accurate.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianMixtureGrad
        >>> X = np.random.default_rng(0).normal(size=(300, 2))
        >>> gm = GaussianMixtureGrad(n_components=2, random_state=0).fit(X)
        >>> round(gm.integrate_box([-np.inf, -np.inf], [np.inf, np.inf]), 12)
        1.0
        """
        check_is_fitted(self)
        return self._box(low, high, maxpts, abseps, random_state)

    def integrate_box_1d(self, low, high):
        r"""Probability of an interval, for a density of one feature.

        Parameters
        ----------
        low, high : float or array-like
            Interval ends (broadcast together); infinite values allowed.

        Returns
        -------
        probability : float or ndarray
            :math:`\sum_k w_k [\Phi((b - \mu_k)/\sigma_k) -
            \Phi((a - \mu_k)/\sigma_k)]`, exact to rounding
            (:func:`scipy.special.ndtr`); shaped like the broadcast inputs.

        Raises
        ------
        ValueError
            When the estimator has more than one feature: take
            ``marginal([j])`` first, or use :meth:`integrate_box`.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianKDE
        >>> kde = GaussianKDE(bandwidth=1.0).fit([[0.0]])
        >>> round(kde.integrate_box_1d(-1.96, 1.96), 4)
        0.95
        """
        check_is_fitted(self)
        if self.n_features_in_ != 1:
            raise ValueError(
                f"integrate_box_1d needs a density of one feature; this one has "
                f"{self.n_features_in_}. Use integrate_box, or marginal([j]) "
                f"first."
            )
        low, high = as_float_arrays(low, high)
        p = self._box(low.reshape(-1, 1), high.reshape(-1, 1), None, 1e-5, None)
        return shaped_like(p, low.shape)

    def integrate_gaussian(self, mean, cov):
        r"""Integral of the density times a Gaussian, :math:`\int f\,\mathcal N(m, C)`.

        Parameters
        ----------
        mean : array-like of shape (n_features,) or (n_points, n_features)
            :math:`m` (one or many).
        cov : array-like of shape (n_features, n_features)
            :math:`C`, symmetric positive semi-definite (a float for one
            feature). ``cov = 0`` gives the density at ``mean``.

        Returns
        -------
        value : float or ndarray of shape (n_points,)

        Notes
        -----
        Closed form: :math:`\sum_k w_k\, \mathcal N(m; \mu_k, \Sigma_k + C)`,
        the density of the mixture convolved with :math:`\mathcal N(0, C)`,
        evaluated at :math:`m` by the same core as ``score_samples`` (one
        factorisation of :math:`H + C` for a KDE). As
        :class:`scipy.stats.gaussian_kde` ``.integrate_gaussian``.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianKDE
        >>> X = np.random.default_rng(0).normal(size=(100, 2))
        >>> kde = GaussianKDE().fit(X)
        >>> at = [[0.3, -0.2]]
        >>> bool(np.isclose(kde.integrate_gaussian(at[0], np.zeros((2, 2))),
        ...                 np.exp(kde.score_samples(at))[0]))
        True
        """
        check_is_fitted(self)
        d = self.n_features_in_
        points, single = as_points(mean, d, "mean")
        cov = np.asarray(cov, dtype=np.float64)
        if cov.ndim == 0 and d == 1:
            cov = cov.reshape(1, 1)
        if cov.shape != (d, d) or not np.all(np.isfinite(cov)):
            raise ValueError(
                f"cov must be a finite ({d}, {d}) covariance matrix; got shape "
                f"{cov.shape}."
            )
        scale = max(np.abs(cov).max(), np.finfo(np.float64).tiny)
        if not np.allclose(cov, cov.T, rtol=1e-10, atol=0) or (
            np.linalg.eigvalsh(cov).min() < -10 * d * np.finfo(float).eps * scale
        ):
            raise ValueError(
                "cov must be symmetric positive semi-definite; symmetrise it "
                "with (cov + cov.T) / 2 and check its eigenvalues."
            )
        mixture = convolve(self._moment_mixture(), (cov + cov.T) / 2)
        log_value = log_density_derivatives(points, mixture, 0)[0]
        return squeeze(np.exp(log_value), single)

    def integrate_product(self, other):
        r"""Integral of the product of two fitted densities, :math:`\int f g\,dx`.

        Parameters
        ----------
        other : fitted estimator of skdensity
            A :class:`GaussianKDE`, :class:`GaussianMixtureGrad` or
            :class:`BayesianGaussianMixtureGrad` on the same features.

        Returns
        -------
        value : float

        Raises
        ------
        ValueError
            When ``other`` is not a fitted estimator of skdensity, or has
            other features.

        Notes
        -----
        Closed form:
        :math:`\sum_{k,l} w_k v_l\, \mathcal N(\mu_k; \nu_l, \Sigma_k + \Gamma_l)`.
        When one density's components share a covariance :math:`\Gamma` (a
        KDE), the other is convolved with it once and evaluated at the
        first's centres by the core of ``score_samples`` (blocked, memory
        bounded); otherwise the loop runs over the components of the smaller
        mixture. :math:`\int f^2` (``other=self``) is the quantity
        least-squares cross-validation of bandwidths uses.
        :class:`scipy.stats.gaussian_kde` calls this ``integrate_kde``.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianKDE
        >>> kde = GaussianKDE(bandwidth=1.0).fit([[0.0]])
        >>> bool(np.isclose(kde.integrate_product(kde), 1 / np.sqrt(4 * np.pi)))
        True
        """
        check_is_fitted(self)
        if not isinstance(other, ProbabilitiesMixin):
            raise ValueError(
                f"other must be a fitted GaussianKDE, GaussianMixtureGrad or "
                f"BayesianGaussianMixtureGrad; got {type(other).__name__}."
            )
        check_is_fitted(other)
        if other.n_features_in_ != self.n_features_in_:
            raise ValueError(
                f"other has {other.n_features_in_} features, this density "
                f"{self.n_features_in_}: the product integrates over one space."
            )
        names = getattr(self, "feature_names_in_", None)
        other_names = getattr(other, "feature_names_in_", None)
        if (
            names is not None
            and other_names is not None
            and list(names) != list(other_names)
        ):
            raise ValueError(
                f"other was fitted on features {list(other_names)}, this "
                f"density on {list(names)}: use the same features in the same "
                f"order."
            )
        f, g = self._moment_mixture(), other._moment_mixture()
        if f.shared and not g.shared:
            f, g = g, f
        if not g.shared and g.n_components > f.n_components:
            f, g = g, f
        if g.shared:
            log_terms = log_density_derivatives(g.means, convolve(f, g.covariance))[0]
        else:
            log_terms = np.array(
                [
                    log_density_derivatives(mean[None], convolve(f, cov))[0][0]
                    for mean, cov in zip(g.means, g.covariance, strict=True)
                ]
            )
        return float(np.exp(logsumexp(log_terms + g.log_weights)))

    def density_level(self, prob, *, n_samples=10_000, random_state=None):
        r"""Density thresholds of the highest density regions of given probability.

        The level :math:`c` for which the region :math:`\{x: f(x) \ge c\}`
        holds probability ``prob``: the contour that encloses the most
        probable ``prob`` of the distribution (R ks's ``contourLevels``, the
        levels seaborn's ``kdeplot`` draws).

        Parameters
        ----------
        prob : float or array-like of floats in (0, 1)
            Probabilities of the regions.
        n_samples : int, default=10_000
            Number of draws from the density the levels are estimated from.
        random_state : int, numpy Generator or RandomState, default=None
            Seed or generator of the draws; an int makes the levels
            reproducible.

        Returns
        -------
        result : DensityLevelResult
            ``level`` (in the units of ``exp(score_samples)``), ``log_level``
            and their Monte Carlo errors, ``level_std`` and ``coverage_std``.

        Notes
        -----
        :math:`c` is the :math:`(1 - p)`-quantile of :math:`f(X)` for
        :math:`X \sim f`, since :math:`P(f(X) \ge c) = p`: the levels are
        order statistics of ``score_samples`` at ``n_samples`` draws (Hyndman
        1996). The probability the region :math:`\{f \ge c\}` actually holds
        is ``prob`` within ``coverage_std``
        :math:`\approx \sqrt{p(1 - p)/n}` (0.001 for :math:`p = 0.99` at the
        default :math:`n`). Draws come from the density itself (for a
        :class:`BayesianGaussianMixtureGrad`, the normalised variational
        density, not the plug-in mixture its ``sample`` draws from), and the
        density is evaluated as ``score_samples`` evaluates it (with the
        KDE's approximate algorithm, if one is set), so that the levels
        match a contour plot of ``score_samples``.

        References
        ----------
        R. J. Hyndman, "Computing and graphing highest density regions", The
        American Statistician 50(2), 1996.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianKDE
        >>> X = np.random.default_rng(0).normal(size=(200, 2))
        >>> kde = GaussianKDE().fit(X)
        >>> res = kde.density_level([0.99, 0.9, 0.5], random_state=0)
        >>> bool(np.all(np.diff(res.level) > 0))   # increasing, for contour()
        True
        >>> res.n_samples
        10000
        """
        check_is_fitted(self)
        p = np.asarray(prob, dtype=np.float64)
        if not np.all((p > 0) & (p < 1)) or p.size == 0:
            raise ValueError(
                f"prob must be probabilities strictly between 0 and 1; got {prob!r}."
            )
        if not isinstance(n_samples, Integral) or n_samples < 2:
            raise ValueError(
                f"n_samples must be an integer >= 2; got {n_samples!r}. The "
                f"Monte Carlo error shrinks like 1/sqrt(n_samples)."
            )
        draws = sample(self._moment_mixture(), n_samples, as_generator(random_state))
        log_f = self._evaluate(draws, 0)[0]
        log_level, level_std, coverage_std = level_from_draws(log_f, p.reshape(-1))
        return DensityLevelResult(
            prob=float(p) if p.shape == () else p,
            level=shaped_like(np.exp(log_level), p.shape),
            log_level=shaped_like(log_level, p.shape),
            level_std=shaped_like(level_std, p.shape),
            coverage_std=shaped_like(coverage_std, p.shape),
            n_samples=int(n_samples),
        )
