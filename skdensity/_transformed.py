"""A density fitted in a transformed space, evaluated in the original units."""

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.utils.metaestimators import available_if

from ._base import GaussianMixtureDerivativesMixin
from ._core import (
    HasMethods,
    check_is_fitted,
    discard_fit_on_error,
    fit_context,
    validate_data,
)

#: Largest departure from the affine map, relative to the transformed data's
#: spread, that is still rounding.
_AFFINE_RTOL = 1e-9


def _has_hook(self):
    density = self.density_ if hasattr(self, "density_") else self.density
    return callable(getattr(density, "fixed_point_step", None)) and callable(
        getattr(density, "scale_covariance", None)
    )


class TransformedDensity(GaussianMixtureDerivativesMixin, DensityMixin, BaseEstimator):
    r"""A density fitted to affinely transformed data, in the original units.

    ``fit`` fits ``transformer`` (a :class:`~sklearn.preprocessing.StandardScaler`,
    a whitening :class:`~sklearn.decomposition.PCA`, ...) to ``X``, then
    ``density`` to the transformed data :math:`z = A x + b`. Every method
    answers in the units of ``X``: the density of :math:`x` (the change of
    variables includes :math:`|\det A|`), its gradient and Hessian by the
    chain rule, samples mapped back. So :func:`~skdensity.find_modes`,
    :class:`~skdensity.ModeClustering` and ``objective()`` work on
    standardised data, which a :class:`~sklearn.pipeline.Pipeline` (with no
    ``gradient``) cannot offer.

    Parameters
    ----------
    density : estimator, default=None
        Unfitted density with ``fit``, ``score_samples``, ``gradient`` and
        ``hessian``; ``None`` means :class:`~skdensity.GaussianKDE` ``()``.
        It is cloned.
    transformer : transformer, default=None
        Unfitted transformer whose ``transform`` is affine and keeps the
        number of features: scalers (Standard, MinMax, MaxAbs, Robust), a
        :class:`~sklearn.decomposition.PCA` keeping every component (with or
        without ``whiten``), a pipeline of these. ``None`` means
        :class:`~sklearn.preprocessing.StandardScaler` ``()``. It is cloned.

    Attributes
    ----------
    density_ : estimator
        The density fitted to the transformed data.
    transformer_ : transformer
        The fitted transformer.
    linear_map_ : ndarray of shape (n_features, n_features)
        :math:`A`, with ``transformer_.transform(X) = X @ A.T + b``.
    offset_ : ndarray of shape (n_features,)
        :math:`b`.
    log_abs_det_ : float
        :math:`\log |\det A|`, added to the transformed log-density.
    X_fit_ : ndarray of shape (n_kernels, n_features)
        The kernel centres in the original units, when ``density_`` has
        them (a KDE); the default starts of :func:`~skdensity.find_modes`.
    means_ : ndarray of shape (n_components, n_features)
        The component means in the original units, when ``density_`` has
        them (a mixture).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    Raises
    ------
    ValueError
        At ``fit``, when the transformer is not affine (a
        ``QuantileTransformer``, say), changes the number of features (a PCA
        dropping components) or is singular.

    Notes
    -----
    ``fit`` reads :math:`A` and :math:`b` off the fitted transformer by
    central differences around the data mean (exact for an affine map, up
    to rounding) and checks the map against ``transform`` on the training
    data. With :math:`z = A x + b` and :math:`g` the density of :math:`z`,

    .. math::

        \log f(x) &= \log g(z) + \log |\det A|, \\
        \nabla_x \log f &= A^\top \nabla_z \log g, \qquad
        \nabla_x^2 \log f = A^\top\, \nabla_z^2 \log g\, A,

    and the derivatives of :math:`f` follow from those of :math:`\log f` as
    for every estimator. The mode-finding hook maps too: a fixed-point step
    of :math:`g` is :math:`A^{-1}` times the step in :math:`z`, and the
    scale covariance is :math:`A^{-1} S_z A^{-\top}`. A Gaussian KDE fitted
    to standardised data is a KDE in the original units with kernel
    covariance :math:`A^{-1} H_z A^{-\top}`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity import GaussianKDE, TransformedDensity
    >>> from skdensity.datasets import load_faithful
    >>> X, _ = load_faithful()
    >>> td = TransformedDensity(GaussianKDE(bandwidth=0.3)).fit(X)
    >>> td.gradient(X[:2], log=True).shape  # per minute, in X's units
    (2, 2)
    >>> fun, jac, hess = td.objective()  # for scipy.optimize.minimize
    """

    _parameter_constraints = {
        "density": [
            HasMethods(["fit", "score_samples", "gradient", "hessian"]),
            None,
        ],
        "transformer": [HasMethods(["fit", "transform"]), None],
    }

    def __init__(self, density=None, transformer=None):
        self.density = density
        self.transformer = transformer

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the transformer to ``X``, then the density to the transformed data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, in the original units.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the density's ``fit``.

        Returns
        -------
        self : TransformedDensity
        """
        with discard_fit_on_error(self):
            return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight):
        from sklearn.preprocessing import StandardScaler

        from . import GaussianKDE  # the default, as ModeClustering's

        X = validate_data(self, X, dtype=np.float64)
        transformer = clone(
            StandardScaler() if self.transformer is None else self.transformer
        )
        density = clone(GaussianKDE() if self.density is None else self.density)
        Z = np.asarray(transformer.fit_transform(X), dtype=np.float64)
        A, b = _affine_map(transformer, X, Z)
        sign, log_abs_det = np.linalg.slogdet(A)
        if sign == 0 or np.linalg.cond(A) > 1e12:
            raise ValueError(
                f"{type(transformer).__name__} maps the data through a singular "
                f"(or nearly singular) linear map; a density cannot be carried "
                f"back. Drop constant or collinear features first."
            )
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        density.fit(Z, **fit_params)
        self.transformer_, self.density_ = transformer, density
        self.linear_map_, self.offset_ = A, b
        self.log_abs_det_ = float(log_abs_det)
        self._inverse = np.linalg.inv(A)
        for name in ("X_fit_", "means_"):
            if hasattr(density, name):
                setattr(self, name, self._to_x(np.asarray(getattr(density, name))))
        return self

    def _to_z(self, X):
        return X @ self.linear_map_.T + self.offset_

    def _to_x(self, Z):
        return (Z - self.offset_) @ self._inverse.T

    # -- evaluation (the mixin's gradient, hessian and objective use it) -----

    def score_samples(self, X):
        """Log-density of each point, in the original units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.density_.score_samples(self._to_z(X)) + self.log_abs_det_

    def score(self, X, y=None):
        """Total log-likelihood of ``X`` (a sum, as ``GaussianKDE.score``)."""
        return float(np.sum(self.score_samples(X)))

    def _evaluate(self, X, order):
        Z = self._to_z(X)
        A, density = self.linear_map_, self.density_
        log_f = density.score_samples(Z) + self.log_abs_det_
        if order == 0:
            return log_f, None, None
        if order == 1:
            return log_f, density.gradient(Z, log=True) @ A, None
        both = getattr(density, "gradient_and_hessian", None)
        if callable(both):
            grad, hess = both(Z, log=True)
        else:
            grad, hess = density.gradient(Z, log=True), density.hessian(Z, log=True)
        return log_f, grad @ A, np.einsum("ki,mkl,lj->mij", A, hess, A)

    def sample(self, n_samples=1, random_state=None):
        """Draw samples, in the original units.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            Passed to the density's ``sample``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            For a mixture, ``(X, component_labels)`` as the mixture returns.
        """
        check_is_fitted(self)
        drawn = self.density_.sample(n_samples, random_state=random_state)
        if isinstance(drawn, tuple):
            return (self._wrap_output(self._to_x(np.asarray(drawn[0]))), *drawn[1:])
        return self._wrap_output(self._to_x(np.asarray(drawn)))

    # -- the mode-finding hook, where the density has one ---------------------

    @available_if(_has_hook)
    def fixed_point_step(self, X, *, log_gradient=None):
        r"""The density's fixed-point step, mapped back: :math:`A^{-1} s_z`.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
        log_gradient : ndarray of shape (n_queries, n_features), default=None
            :math:`\nabla_x \log f` at ``X``, when known.

        Returns
        -------
        step : ndarray of shape (n_queries, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        grad_z = None if log_gradient is None else log_gradient @ self._inverse
        step = self.density_.fixed_point_step(self._to_z(X), log_gradient=grad_z)
        return step @ self._inverse.T

    @available_if(_has_hook)
    def scale_covariance(self):
        r"""The density's scale in the original units: :math:`A^{-1} S_z A^{-\top}`.

        Returns
        -------
        scale : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self)
        inv = self._inverse
        scale = inv @ self.density_.scale_covariance() @ inv.T
        return (scale + scale.T) / 2


def _affine_map(transformer, X, Z):
    """``A`` and ``b`` with ``transform(x) = A x + b``, checked on the data."""
    n, d = X.shape
    if Z.ndim != 2 or Z.shape != (n, d):
        raise ValueError(
            f"{type(transformer).__name__} maps {d} features to "
            f"{Z.shape[1] if Z.ndim == 2 else Z.shape}; a density in the original "
            f"units needs as many features out as in (e.g. PCA(n_components=None))."
        )
    center = X.mean(axis=0)
    step = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    probes = np.vstack([center + np.diag(step), center - np.diag(step), center])
    T = np.asarray(transformer.transform(probes), dtype=np.float64)
    A = ((T[:d] - T[d : 2 * d]) / (2 * step[:, None])).T
    b = T[-1] - A @ center
    spread = np.max(np.abs(Z - Z.mean(axis=0))) + np.finfo(float).tiny
    departure = np.max(np.abs(X @ A.T + b - Z)) / spread
    if not departure <= _AFFINE_RTOL:
        raise ValueError(
            f"{type(transformer).__name__} is not affine on the data (it departs "
            f"from the best affine map by {departure:.1e} of the data's spread); "
            f"derivatives in the original units need z = A x + b: use a scaler "
            f"or a PCA."
        )
    return A, b
