"""The derivative methods, written once for every Gaussian-mixture estimator."""

import numpy as np

from ._gaussian_mixture_math import log_density_derivatives, to_density_scale
from ._utils import check_is_fitted, validate_data


class GaussianMixtureDerivativesMixin:
    """``gradient`` and ``hessian`` for estimators whose density is a Gaussian mixture.

    A class using this mixin implements ``_get_mixture()``, returning the
    canonical mixture of :func:`skdensity._gaussian_mixture_math.make_mixture`
    built from its public fitted attributes. The derivatives are those of the
    function whose logarithm ``score_samples`` returns. A class with another
    way to evaluate the same mixture (an approximation) overrides
    ``_evaluate``, which receives validated queries.
    """

    def _log_density_derivatives(self, X, order):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
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
        if log:
            return grad_log_f
        return to_density_scale(log_f, grad_log_f, overwrite=True)[1]

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
