r"""Marginal and conditional densities of a Gaussian mixture, as estimators.

Both are Gaussian mixtures again (:mod:`skdensity._core._moments` has the
formulas); the estimator builds a fitted estimator of its kind from them.
"""

import numpy as np

from .._core import check_is_fitted, condition, conditional_moments, marginalize
from ._inputs import as_points, feature_indices, names_of


class MarginalsMixin:
    """``marginal``, ``conditional`` and the conditional moments."""

    def _checked_conditioning(self, features, values):
        """The given features' indices, the values as rows of them, and
        whether one point came as a vector."""
        check_is_fitted(self)
        given = feature_indices(self, features)
        if given.size == self.n_features_in_:
            raise ValueError(
                f"features names all {self.n_features_in_} features: nothing is "
                "left to condition. Leave out at least one feature."
            )
        return given, *as_points(values, given.size, "values")

    def marginal(self, features):
        r"""The marginal density of some features, as a fitted estimator.

        Parameters
        ----------
        features : int, str or sequence of them
            The features kept (column indices, negative from the end, or
            names when the estimator was fitted on a DataFrame), in the order
            the marginal has them. The others are integrated out.

        Returns
        -------
        estimator : fitted estimator
            A :class:`GaussianKDE` (kernel covariance the sub-matrix of
            :math:`H`, same centres' coordinates and weights) for a KDE; a
            :class:`GaussianMixtureGrad` of the same ``covariance_type``
            (sub-means and sub-covariances, same weights) for a mixture.
            Its ``score_samples``, ``gradient``, ``hessian``, ``sample`` and
            :func:`find_modes` work as on any fitted estimator.

        Raises
        ------
        ValueError
            For an empty, repeated, out-of-range or unknown feature.

        Notes
        -----
        Integrating :math:`x_{\bar S}` out of
        :math:`\sum_k w_k \mathcal N(x; \mu_k, \Sigma_k)` leaves
        :math:`\sum_k w_k \mathcal N(x_S; \mu_{k,S}, \Sigma_{k,SS})`: a
        Gaussian mixture of the same form. As :class:`scipy.stats.gaussian_kde`
        ``.marginal``. For a :class:`BayesianGaussianMixtureGrad`, whose
        ``exp(score_samples)`` integrates to :math:`\sum_k e^{a_k} < 1`,
        this is the marginal of the normalised density, with weights
        :math:`e^{a_k} / \sum_j e^{a_j}`.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianKDE
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> kde = GaussianKDE().fit(X)
        >>> m = kde.marginal([2, 0])
        >>> m.n_features_in_
        2
        >>> bool(np.allclose(m.covariance_, kde.covariance_[np.ix_([2, 0], [2, 0])]))
        True
        """
        check_is_fitted(self)
        index = feature_indices(self, features)
        mixture = marginalize(self._moment_mixture(), index)
        return self._from_moment_mixture(mixture, names_of(self, index))

    def conditional(self, features, values):
        r"""The density of the other features given fixed values of these.

        Parameters
        ----------
        features : int, str or sequence of them
            The features held fixed (column indices or names); at least one
            feature must be left free.
        values : float or array-like of shape (n_given,)
            Their values, in the order of ``features``.

        Returns
        -------
        estimator : fitted estimator
            The conditional density of the free features (in their original
            order) as a fitted estimator: a :class:`GaussianKDE` with shifted
            centres, reweighted kernels and one shared kernel covariance (the
            Schur complement, so it keeps the shared fast path) for a KDE; a
            :class:`GaussianMixtureGrad` of the same ``covariance_type`` for
            a mixture (a ``"diag"`` or ``"spherical"`` mixture's conditional
            only reweights its components).

        Raises
        ------
        ValueError
            For bad features, all features given, or values of the wrong
            length or not finite.

        See Also
        --------
        conditional_mean, conditional_covariance : Its moments, for many
            values at once.

        Notes
        -----
        Split each component over the given features :math:`g` and the free
        ones :math:`r`. Given :math:`x_g = v`,

        .. math::

            f(x_r \mid v) = \frac{f(x_r, v)}{f_g(v)}
            = \sum_k \tilde w_k\, \mathcal N\big(x_r;\;
              \mu_{k,r} + \Sigma_{k,rg}\Sigma_{k,gg}^{-1}(v - \mu_{k,g}),\;
              \Sigma_{k,rr} - \Sigma_{k,rg}\Sigma_{k,gg}^{-1}\Sigma_{k,gr}\big),
            \qquad
            \tilde w_k = \frac{w_k\, \mathcal N(v; \mu_{k,g}, \Sigma_{k,gg})}
                              {\sum_j w_j\, \mathcal N(v; \mu_{j,g}, \Sigma_{j,gg})},

        computed from one Cholesky factorisation of each covariance with
        the given features first (the shift and the Schur complement come
        out of its blocks, with no subtraction), and the weights in
        log-space, so that values far from the data still give a proper
        density.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianKDE
        >>> X = np.random.default_rng(0).normal(size=(200, 2))
        >>> kde = GaussianKDE().fit(X)
        >>> c = kde.conditional([0], [0.5])   # density of x1 given x0 = 0.5
        >>> y = np.array([[0.2]])
        >>> joint = kde.score_samples([[0.5, 0.2]])
        >>> given = kde.marginal([0]).score_samples([[0.5]])
        >>> bool(np.allclose(c.score_samples(y), joint - given))
        True
        """
        given, v, single = self._checked_conditioning(features, values)
        if not single:
            raise ValueError(
                f"values must have shape ({given.size},): one point to "
                f"condition on; use conditional_mean for many."
            )
        mixture = condition(self._moment_mixture(), given, v[0])
        free = np.setdiff1d(np.arange(self.n_features_in_), given)
        return self._from_moment_mixture(mixture, names_of(self, free))

    def _conditional_moments(self, features, values):
        given, V, single = self._checked_conditioning(features, values)
        mean, cov = conditional_moments(self._moment_mixture(), given, V)
        return (mean[0], cov[0]) if single else (mean, cov)

    def conditional_mean(self, features, values):
        r"""Mean of the other features given fixed values of these.

        Parameters
        ----------
        features : int, str or sequence of them
            The features held fixed.
        values : array-like of shape (n_given,) or (n_points, n_given)
            One point or many to condition on.

        Returns
        -------
        mean : ndarray of shape (n_free,) or (n_points, n_free)
            :math:`E[x_r \mid x_g = v] = \sum_k \tilde w_k(v)\, m_k(v)`, with
            the weights and means of :meth:`conditional`. For a KDE this is
            the Nadaraya-Watson regression of the free features on the given
            ones, corrected by the kernel's own slope
            :math:`H_{rg} H_{gg}^{-1}`.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianMixtureGrad
        >>> rng = np.random.default_rng(0)
        >>> X = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=500)
        >>> gm = GaussianMixtureGrad(random_state=0).fit(X)
        >>> gm.conditional_mean([0], [[1.0], [2.0]]).shape
        (2, 1)
        """
        return self._conditional_moments(features, values)[0]

    def conditional_covariance(self, features, values):
        r"""Covariance of the other features given fixed values of these.

        Parameters
        ----------
        features : int, str or sequence of them
            The features held fixed.
        values : array-like of shape (n_given,) or (n_points, n_given)
            One point or many to condition on.

        Returns
        -------
        covariance : ndarray of shape (n_free, n_free) or (n_points, n_free, n_free)
            :math:`\sum_k \tilde w_k(v)\,[S_k + (m_k - \bar m)(m_k - \bar
            m)^\top]`: the components' Schur complements :math:`S_k` plus the
            spread of their conditional means :math:`m_k(v)` about the mean
            :math:`\bar m`.

        Examples
        --------
        >>> import numpy as np
        >>> from skdensity import GaussianMixtureGrad
        >>> rng = np.random.default_rng(0)
        >>> X = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=500)
        >>> gm = GaussianMixtureGrad(random_state=0).fit(X)
        >>> S = gm.conditional_covariance([0], [1.0])
        >>> c = gm.covariances_[0]
        >>> bool(np.allclose(S, c[1, 1] - c[1, 0] ** 2 / c[0, 0]))
        True
        """
        return self._conditional_moments(features, values)[1]
