"""The derivative methods, written once for every Gaussian-mixture estimator."""

import threading

import numpy as np

from ._core import (
    SharedPrecisionMixture,
    check_is_fitted,
    log_density_derivatives,
    responsibilities,
    to_density_scale,
    validate_queries,
)


class GaussianMixtureDerivativesMixin:
    """``gradient`` and ``hessian`` for estimators whose density is a Gaussian mixture.

    A class using this mixin implements ``_get_mixture()``, returning the
    canonical mixture of :func:`skdensity._core.make_mixture`
    built from its public fitted attributes. The derivatives are those of the
    function whose logarithm ``score_samples`` returns. A class with another
    way to evaluate the same mixture (an approximation) overrides
    ``_evaluate``, which receives validated queries.
    """

    def _log_density_derivatives(self, X, order):
        # n_features_in_ is set by every fit (and removed by a failed one):
        # where it is, check_is_fitted (which looks for any fitted attribute,
        # at a few microseconds of a one-query call) would pass; where it is
        # not, check_is_fitted raises scikit-learn's NotFittedError.
        if "n_features_in_" not in vars(self):
            check_is_fitted(self)
        X = validate_queries(self, X)
        return self._evaluate(X, order)

    def _evaluate(self, X, order):
        """``(log f, grad log f, hess log f)`` up to ``order`` at validated ``X``."""
        return log_density_derivatives(
            X, self._get_mixture(), order, n_jobs=getattr(self, "n_jobs", None)
        )

    def gradient(self, X, *, log=False):
        r"""Gradient of the density (or of its logarithm) at each query point.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query points.
        log : bool, default=False
            Return :math:`\nabla \log f(x)` instead of :math:`\nabla f(x)`.
            The log-gradient stays finite and accurate however far ``x`` lies
            from the data; the plain gradient underflows to zero there.

        Returns
        -------
        gradient : ndarray of shape (n_queries, n_features)
            Derivative with respect to the query point; it points uphill.
        """
        log_f, grad_log_f, _ = self._log_density_derivatives(X, order=1)
        if not log:
            grad_log_f = to_density_scale(log_f, grad_log_f, overwrite=True)[1]
        return self._wrap_output(grad_log_f, X)

    def set_output(self, *, transform=None):
        """Choose the container of ``gradient`` and ``sample`` outputs.

        scikit-learn's ``set_output`` convention, applied to the outputs
        that are tables of features: with ``transform="pandas"``,
        ``gradient`` returns a :class:`pandas.DataFrame` whose columns are
        the feature names (``feature_names_in_``, else ``x0, x1, ...``) and
        whose index is that of ``X`` when ``X`` is a DataFrame; ``sample``
        of a KDE returns a DataFrame with those columns. ``score_samples``
        (1-D) and ``hessian`` (3-D) stay NumPy arrays. The setting is
        cloned with the estimator; scikit-learn's global
        ``transform_output`` does not apply (it governs transformers).

        Parameters
        ----------
        transform : {"default", "pandas"} or None, default=None
            ``"default"``: NumPy arrays; ``"pandas"``: DataFrames; ``None``:
            unchanged.

        Returns
        -------
        self : estimator

        Examples
        --------
        >>> import pandas as pd
        >>> from skdensity import GaussianKDE
        >>> X = pd.DataFrame({"height": [1.0, 2.0, 4.0], "weight": [2.0, 1.0, 3.0]})
        >>> kde = GaussianKDE(bandwidth=1.0).fit(X).set_output(transform="pandas")
        >>> kde.gradient(X.iloc[:1], log=True).round(4)
           height  weight
        0  0.2823 -0.2627
        """
        if transform is None:
            return self
        if transform not in ("default", "pandas"):
            raise ValueError(
                f"set_output(transform={transform!r}): the choices are 'default' "
                f"(NumPy arrays) and 'pandas' (DataFrames)."
            )
        self._sklearn_output_config = {"transform": transform}
        return self

    def _wrap_output(self, values, X=None):
        """``values`` (rows of features) as set by ``set_output``."""
        config = getattr(self, "_sklearn_output_config", {})
        if config.get("transform") != "pandas":
            return values
        import pandas as pd

        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{j}" for j in range(values.shape[1])]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(values, columns=list(names), index=index)

    def hessian(self, X, *, log=False):
        r"""Hessian of the density (or of its logarithm) at each query point.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query points.
        log : bool, default=False
            Return :math:`\nabla^2 \log f(x)` instead of :math:`\nabla^2 f(x)`.

        Returns
        -------
        hessian : ndarray of shape (n_queries, n_features, n_features)
            Symmetric matrices of second derivatives.
        """
        log_f, grad_log_f, hess_log_f = self._log_density_derivatives(X, order=2)
        if log:
            return hess_log_f
        return to_density_scale(log_f, grad_log_f, hess_log_f, overwrite=True)[2]

    def gradient_and_hessian(self, X, *, log=False):
        r"""Gradient and Hessian at each query point, from one evaluation.

        The Hessian's evaluation yields the gradient too; algorithms that need
        both (Newton steps) save a whole pass over the data.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query points.
        log : bool, default=False
            Derivatives of :math:`\log f` instead of :math:`f`.

        Returns
        -------
        gradient : ndarray of shape (n_queries, n_features)
            As :meth:`gradient`.
        hessian : ndarray of shape (n_queries, n_features, n_features)
            As :meth:`hessian`.
        """
        log_f, grad_log_f, hess_log_f = self._log_density_derivatives(X, order=2)
        if log:
            return grad_log_f, hess_log_f
        _, grad, hess = to_density_scale(log_f, grad_log_f, hess_log_f, overwrite=True)
        return grad, hess

    def objective(self):
        r"""Callables of :math:`-\log f` for :func:`scipy.optimize.minimize`.

        Minimising :math:`-\log f` finds a mode; the three callables take
        and return what scipy passes and expects: a 1-D point of
        ``n_features`` values, a float, a 1-D gradient and a 2-D Hessian,
        the analytic derivatives of ``gradient(X, log=True)`` and
        ``hessian(X, log=True)`` negated. They share one evaluation per
        point: ``fun`` and ``jac`` at the same ``x`` cost one gradient
        evaluation; once ``hess`` has been called, each new point is
        evaluated with its Hessian, so that ``fun``, ``jac`` and ``hess``
        at one point (as Newton-type methods ask) cost one evaluation.

        Returns
        -------
        fun : callable
            ``fun(x) -> float``, :math:`-\log f(x)` for ``x`` of shape
            ``(n_features,)``.
        jac : callable
            ``jac(x) -> ndarray of shape (n_features,)``,
            :math:`-\nabla \log f(x)`.
        hess : callable
            ``hess(x) -> ndarray of shape (n_features, n_features)``,
            :math:`-\nabla^2 \log f(x)`.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ValueError
            When called with a point that is not ``n_features`` finite
            values.

        Notes
        -----
        :math:`-\log f` is finite and smooth everywhere, however far from
        the data, where :math:`f` itself underflows to 0 (see
        ``gradient``); methods that need ``hess`` (``"Newton-CG"``,
        ``"trust-exact"``, ``"trust-ncg"``, ``"trust-krylov"``) converge
        quadratically near a mode, where the Hessian of :math:`-\log f` is
        positive definite. To find every mode at once, use
        :func:`~skdensity.find_modes`.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy.optimize import minimize
        >>> from skdensity import GaussianKDE
        >>> kde = GaussianKDE(bandwidth=1.0).fit([[0.0, 0.0], [1.0, 0.0]])
        >>> fun, jac, hess = kde.objective()
        >>> res = minimize(fun, x0=[2.0, 1.0], jac=jac, hess=hess, method="trust-exact")
        >>> np.round(res.x, 6)  # the one mode, midway between the two kernels
        array([0.5, 0. ])
        """
        check_is_fitted(self)
        return _Objective(self).callables()

    # -- The mode-finding hook ----------------------------------------------
    # find_modes and ModeClustering use these two methods where a density
    # offers them (any Gaussian-mixture estimator of skdensity); a density
    # without them gets a safeguarded gradient ascent.

    def fixed_point_step(self, X, *, log_gradient=None):
        r"""Step of the monotone fixed-point iteration for the modes of f.

        For components sharing one covariance (a KDE, a tied mixture) this is
        the Gaussian mean shift, :math:`x \leftarrow \sum_k r_k(x) \mu_k`,
        computed as :math:`H \nabla \log f(x)`; for components with their
        own precisions :math:`P_k` it is the fixed point of
        Carreira-Perpinan (2007),
        :math:`x \leftarrow (\sum_k r_k P_k)^{-1} \sum_k r_k P_k \mu_k`.
        Both increase f at every step (Carreira-Perpinan 2007).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Current points.
        log_gradient : ndarray of shape (n_queries, n_features), default=None
            :math:`\nabla \log f` at ``X`` when the caller has it: the
            mean shift is then one product, with no evaluation.

        Returns
        -------
        step : ndarray of shape (n_queries, n_features)
            New point minus current point.

        References
        ----------
        M. A. Carreira-Perpinan, "Gaussian mean-shift is an EM algorithm",
        IEEE TPAMI 29(5), 2007.

        Examples
        --------
        >>> from skdensity import GaussianKDE
        >>> kde = GaussianKDE(bandwidth=1.0).fit([[0.0], [2.0]])
        >>> kde.fixed_point_step([[0.5]])  # to the responsibility-weighted mean
        array([[0.03788284]])
        """
        check_is_fitted(self)
        X = validate_queries(self, X)
        mixture = self._get_mixture()
        if isinstance(mixture, SharedPrecisionMixture):
            if log_gradient is None:
                log_gradient = self._evaluate(X, order=1)[1]
            return log_gradient @ mixture.scale_covariance
        resp = responsibilities(X, mixture)
        A = np.einsum("mk,kij->mij", resp, mixture.precisions)
        b = resp @ np.einsum("kij,kj->ki", mixture.precisions, mixture.means)
        return np.linalg.solve(A, b[:, :, None])[:, :, 0] - X

    def scale_covariance(self):
        r"""The density's natural length scale, as a covariance matrix.

        The kernel covariance :math:`H` when the components share one (a
        KDE, a tied mixture); otherwise the weight-averaged component
        covariance :math:`\sum_k w_k P_k^{-1}` (weights normalised from the
        mixture's log-weights), so that a collapsed component of vanishing
        variance does not shrink the scale of the others. ``find_modes``
        measures its tolerances and trust radius in this metric.

        Returns
        -------
        scale : ndarray of shape (n_features, n_features)

        Examples
        --------
        >>> from skdensity import GaussianKDE
        >>> GaussianKDE(bandwidth=0.5).fit([[0.0, 1.0], [2.0, 0.0]]).scale_covariance()
        array([[0.25, 0.  ],
               [0.  , 0.25]])
        """
        check_is_fitted(self)
        return self._get_mixture().scale_covariance.copy()


class _Objective:
    """``-log f`` and its derivatives at 1-D points, the last one remembered.

    Once ``hess`` has been asked for, every new point is evaluated with its
    Hessian (one evaluation per point for Newton-type methods, which ask
    for ``fun``, ``jac`` and ``hess`` at each point); until then, with its
    gradient only (for gradient-based methods). The remembered point is
    forgotten when the model changes (a refit, an edited fitted attribute:
    the core mixture is then another object), and is read and replaced
    under a lock, so the callables may be shared by threads. The point is
    checked here (shape, finite) and evaluated without ``validate_data``,
    whose feature-name warning a model fitted on a DataFrame would raise.
    """

    def __init__(self, density):
        self.density = density
        self.lock = threading.Lock()
        self.memo = None  # (model, x, order, values)
        self.wanted = 1

    def _model(self):
        get = getattr(self.density, "_get_mixture", None)
        return get() if callable(get) else self.density

    def _at(self, x, order):
        density = self.density
        if "n_features_in_" not in vars(density):
            check_is_fitted(density)
        d = density.n_features_in_
        x = np.array(x, dtype=np.float64)
        if x.shape != (d,) or not np.isfinite(x).all():
            raise ValueError(
                f"the objective takes a point of {d} finite values (a 1-D "
                f"array, as scipy.optimize passes); got shape {x.shape}."
            )
        model = self._model()
        with self.lock:
            self.wanted = wanted = max(self.wanted, order)
            memo = self.memo
        if (
            memo is not None
            and memo[0] is model
            and memo[2] >= order
            and np.array_equal(memo[1], x)
        ):
            return memo[3]
        log_f, grad, hess = density._evaluate(x[None], order=wanted)
        values = (-log_f[0], -grad[0], None if hess is None else -hess[0])
        with self.lock:
            self.memo = (model, x, wanted, values)
        return values

    def callables(self):
        def fun(x):
            return float(self._at(x, 0)[0])

        def jac(x):
            return self._at(x, 1)[1].copy()

        def hess(x):
            return self._at(x, 2)[2].copy()

        return fun, jac, hess
