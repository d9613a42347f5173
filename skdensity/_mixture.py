r"""Gaussian mixture models with closed-form gradient and Hessian.

:class:`GaussianMixtureGrad` and :class:`BayesianGaussianMixtureGrad` are
scikit-learn's mixtures, unchanged in parameters and fitting, plus the
``gradient`` and ``hessian`` of
:class:`~skdensity._base.GaussianMixtureDerivativesMixin`.
Their only new code is the conversion of the public fitted attributes to the
core's canonical mixture (one helper, :func:`_canonical_mixture`) and the
log-weights of the variational mixture.
"""

import copy

import numpy as np
from scipy.special import digamma
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.utils import check_random_state

from ._base import GaussianMixtureDerivativesMixin
from ._core import (
    check_is_fitted,
    discard_fit_on_error,
    make_mixture,
    moment_mixture,
    precision_cholesky,
)
from ._distribution import GaussianMixtureDistributionMixin

# ---------------------------------------------------------------------------
# Fitted attributes -> canonical mixture
# ---------------------------------------------------------------------------


def _canonical_mixture(log_weights, means, precisions_cholesky, covariance_type):
    r"""Canonical core mixture from scikit-learn's fitted mixture parameters.

    Parameters
    ----------
    log_weights : ndarray of shape (K,)
        Log-weights :math:`a_k` (need not be normalised).
    means : ndarray of shape (K, d)
        Component means ``means_``.
    precisions_cholesky : ndarray
        ``precisions_cholesky_``: of shape (K, d, d) for ``"full"``, (d, d)
        for ``"tied"``, (K, d) for ``"diag"`` and (K,) for ``"spherical"``.
    covariance_type : {"full", "tied", "diag", "spherical"}
        How ``precisions_cholesky`` is stored.

    Returns
    -------
    SharedPrecisionMixture or ComponentPrecisionMixture
        A tied mixture keeps its one (d, d) factor, so the core's
        shared-precision path serves it; the other types are expanded to one
        upper-triangular factor :math:`U_k` per component, (K, d, d):
        ``diag`` gives :math:`U_k = \mathrm{diag}(u_k)`, ``spherical``
        :math:`U_k = u_k I`.
    """
    means = np.asarray(means, dtype=np.float64)
    prec_chol = np.asarray(precisions_cholesky, dtype=np.float64)
    if covariance_type != "tied":
        prec_chol = expand_by_covariance_type(prec_chol, covariance_type, means.shape)
    return make_mixture(log_weights, means, prec_chol)


def expand_by_covariance_type(values, covariance_type, means_shape):
    """Per-component (K, d, d) matrices from scikit-learn's compact storage.

    The one place that reads scikit-learn's four storage forms, for any
    per-component matrix that is diagonal in the "diag" and a multiple of the
    identity in the "spherical" case (covariances, precisions and their
    Cholesky factors).

    Parameters
    ----------
    values : ndarray
        Of shape (K, d, d) for ``"full"``, (d, d) for ``"tied"``, (K, d) for
        ``"diag"`` and (K,) for ``"spherical"``.
    covariance_type : {"full", "tied", "diag", "spherical"}
    means_shape : tuple of int
        ``(K, d)``.

    Returns
    -------
    ndarray of shape (K, d, d)
        A tied matrix is broadcast (read-only view).
    """
    values = np.asarray(values, dtype=np.float64)
    eye = np.eye(means_shape[1])
    if covariance_type == "full":
        return values
    if covariance_type == "tied":
        return np.broadcast_to(values, (means_shape[0],) + values.shape)
    if covariance_type == "diag":
        return values[:, :, None] * eye
    if covariance_type == "spherical":
        return values[:, None, None] * eye
    raise ValueError(
        f"covariance_type must be 'full', 'tied', 'diag' or 'spherical'; "
        f"got {covariance_type!r}."
    )


def compress_by_covariance_type(values, covariance_type):
    """scikit-learn's compact storage of per-component matrices: the inverse
    of :func:`expand_by_covariance_type`.

    Parameters
    ----------
    values : ndarray of shape (K, d, d), or (d, d) for ``"tied"``
        Diagonal matrices for ``"diag"``, multiples of the identity for
        ``"spherical"``.
    covariance_type : {"full", "tied", "diag", "spherical"}

    Returns
    -------
    ndarray
        (K, d, d), (d, d), (K, d) or (K,) by ``covariance_type``.
    """
    if covariance_type in ("full", "tied"):
        return values
    diagonal = np.diagonal(values, axis1=-2, axis2=-1)
    return diagonal.copy() if covariance_type == "diag" else diagonal[:, 0].copy()


def _expected_log_weights(weight_concentration, prior_type):
    r"""Expected log mixing weights :math:`E[\log \pi_k]` under the posterior.

    Parameters
    ----------
    weight_concentration : ndarray of shape (K,) or tuple of two of them
        ``weight_concentration_``: Dirichlet parameters :math:`\alpha_k`, or
        the Beta parameters :math:`(a_k, b_k)` of the stick-breaking
        fractions.
    prior_type : {"dirichlet_process", "dirichlet_distribution"}
        ``weight_concentration_prior_type``.

    Returns
    -------
    ndarray of shape (K,)
        For a Dirichlet distribution
        :math:`\psi(\alpha_k) - \psi(\sum_j \alpha_j)`; for a Dirichlet
        process (stick breaking, :math:`v_k \sim \mathrm{Beta}(a_k, b_k)`)
        :math:`\psi(a_k) - \psi(a_k + b_k) + \sum_{j<k} [\psi(b_j) -
        \psi(a_j + b_j)]`.
    """
    if prior_type == "dirichlet_process":
        a, b = (np.asarray(c, dtype=np.float64) for c in weight_concentration)
        digamma_sum = digamma(a + b)
        log_rest = np.cumsum(digamma(b) - digamma_sum)
        return digamma(a) - digamma_sum + np.concatenate(([0.0], log_rest[:-1]))
    alpha = np.asarray(weight_concentration, dtype=np.float64)
    return digamma(alpha) - digamma(alpha.sum())


def _variational_log_constants(degrees_of_freedom, mean_precision, n_features):
    r"""Per-component constants of the variational log-density.

    Returns :math:`-\tfrac d2 \log\nu_k + \tfrac12(\log\Lambda_k - d/\beta_k)`
    with :math:`\log\Lambda_k = d\log 2 + \sum_{j=0}^{d-1}\psi((\nu_k-j)/2)`,
    shape (K,). ``degrees_of_freedom`` :math:`\nu` is a scalar for a tied
    mixture; ``mean_precision`` :math:`\beta` has one entry per component.
    """
    d = n_features
    nu = np.broadcast_to(
        np.asarray(degrees_of_freedom, dtype=np.float64),
        np.shape(mean_precision),
    )
    log_lambda = d * np.log(2.0) + digamma(0.5 * (nu[:, None] - np.arange(d))).sum(1)
    return -0.5 * d * np.log(nu) + 0.5 * (log_lambda - d / mean_precision)


# ---------------------------------------------------------------------------
# The estimators' mixture, both ways
# ---------------------------------------------------------------------------


class _MixtureFormsMixin:
    """The fitted mixture as the core's two forms, and back to an estimator.

    A subclass gives ``_log_weights()``: the per-component log-weights of the
    function whose logarithm ``score_samples`` returns.
    """

    def _get_mixture(self):
        # Built once per set of fitted parameters: the key holds their bytes
        # (a copy of K d^2 floats at most, far less than building the
        # mixture), so a refit or an edited attribute builds it afresh.
        log_weights = np.asarray(self._log_weights(), dtype=np.float64)
        means = np.asarray(self.means_, dtype=np.float64)
        prec_chol = np.asarray(self.precisions_cholesky_, dtype=np.float64)
        key = (
            self.covariance_type,
            means.shape,
            prec_chol.shape,
            log_weights.tobytes(),
            means.tobytes(),
            prec_chol.tobytes(),
        )
        kept = self.__dict__.get("_mixture_kept")
        if kept is None or kept[0] != key:
            mixture = _canonical_mixture(
                log_weights, means, prec_chol, self.covariance_type
            )
            kept = self._mixture_kept = (key, mixture)
        return kept[1]

    def _moment_mixture(self):
        cov = np.asarray(self.covariances_, dtype=np.float64)
        if self.covariance_type != "tied":
            cov = expand_by_covariance_type(
                cov, self.covariance_type, self.means_.shape
            )
        return moment_mixture(self._log_weights(), self.means_, cov)

    def _from_moment_mixture(self, mixture, feature_names):
        """A fitted :class:`GaussianMixtureGrad` of ``mixture``, same type."""
        own = self.get_params()
        params = {k: own[k] for k in GaussianMixtureGrad().get_params() if k in own}
        params.update(
            n_components=mixture.n_components,
            weights_init=None,
            means_init=None,
            precisions_init=None,
        )
        gm = GaussianMixtureGrad(**params)
        prec_chol = precision_cholesky(mixture.covariance)
        precisions = prec_chol @ np.swapaxes(prec_chol, -1, -2)
        kind = self.covariance_type
        gm.weights_ = mixture.weights
        gm.means_ = mixture.means
        gm.covariances_ = compress_by_covariance_type(mixture.covariance, kind)
        gm.precisions_cholesky_ = compress_by_covariance_type(prec_chol, kind)
        gm.precisions_ = compress_by_covariance_type(precisions, kind)
        gm.converged_ = self.converged_
        gm.n_iter_ = self.n_iter_
        gm.lower_bound_ = np.nan
        gm.lower_bounds_ = []
        gm.n_features_in_ = mixture.n_features
        if feature_names is not None:
            gm.feature_names_in_ = np.asarray(feature_names, dtype=object)
        return gm


# ---------------------------------------------------------------------------
# Reproducible sampling
# ---------------------------------------------------------------------------


class _SampleMixin:
    """``sample(n_samples, random_state)`` over the parent's ``sample``."""

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted mixture, with their component labels.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples; what scikit-learn's ``sample`` accepts is
            accepted, what it rejects is rejected with the same exception.
        random_state : int, RandomState instance or None, default=None
            ``None`` keeps scikit-learn's behaviour: the estimator's own
            ``random_state`` is used (the same draws on every call when it is
            an int). Otherwise the draws come from this seed or generator, so
            that an int gives reproducible draws per call.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component.
        y : ndarray of shape (n_samples,)
            Their component labels.

        Notes
        -----
        The algorithm is scikit-learn's: component counts from a multinomial
        over ``weights_``, then Gaussian draws with ``covariances_`` from each
        component in turn. For a Bayesian mixture these are the point
        estimates, not the variational mixture of ``score_samples``.
        """
        check_is_fitted(self)
        # The parent's own test, so that exactly the same inputs are rejected
        # (with the same exception type); its message names n_components.
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                "requires at least one sample: pass an integer n_samples >= 1."
            )
        if random_state is None:
            return super().sample(n_samples)
        # The parent draws from self.random_state; a shallow copy carrying the
        # given generator runs the same algorithm without mutating self.
        sampler = copy.copy(self)
        sampler.random_state = check_random_state(random_state)
        return super(_SampleMixin, sampler).sample(n_samples)


class _CleanFailedFitMixin:
    """A fit that raises leaves no fitted attribute behind."""

    def fit_predict(self, X, y=None):
        with discard_fit_on_error(self):
            return super().fit_predict(X, y)

    fit_predict.__doc__ = GaussianMixture.fit_predict.__doc__


# ---------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------


class GaussianMixtureGrad(
    GaussianMixtureDerivativesMixin,
    GaussianMixtureDistributionMixin,
    _MixtureFormsMixin,
    _SampleMixin,
    _CleanFailedFitMixin,
    GaussianMixture,
):
    r"""Gaussian mixture model with closed-form gradient and Hessian.

    A drop-in :class:`sklearn.mixture.GaussianMixture`: the same parameters
    (defaults and validation included), the same fit (with the same
    ``random_state`` the fitted attributes are identical), the same
    ``score_samples``, ``score`` (a mean), ``predict``, ``predict_proba``,
    ``bic``, ``aic``. It adds :meth:`gradient` and
    :meth:`hessian` of the density (or of its logarithm) for every
    ``covariance_type``, and a ``random_state`` argument to :meth:`sample`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Form of the component covariances: each its own full matrix, one
        shared full matrix, each its own diagonal, each its own variance.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound.
    reg_covar : float, default=1e-6
        Added to the covariance diagonals, to keep them positive definite.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best result is kept.
    init_params : str, default="kmeans"
        How the responsibilities are initialised: "kmeans", "k-means++",
        "random" or "random_from_data".
    weights_init : array-like of shape (n_components,), default=None
        Initial weights.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means.
    precisions_init : array-like, default=None
        Initial precisions, shaped by ``covariance_type``.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation, and of :meth:`sample` when that is not
        given its own ``random_state``.
    warm_start : bool, default=False
        Start each ``fit`` from the previous solution.
    verbose : int, default=0
        Verbosity of the fit.
    verbose_interval : int, default=10
        Iterations between two progress messages.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights :math:`w_k`.
    means_ : ndarray of shape (n_components, n_features)
        Component means :math:`\mu_k`.
    covariances_ : ndarray
        Component covariances, stored by ``covariance_type`` as in scikit-learn.
    precisions_cholesky_ : ndarray
        Cholesky factors :math:`U_k` of the precisions, stored likewise.
    n_features_in_ : int
        Number of features seen during fit.
    precisions_, converged_, n_iter_, lower_bound_, lower_bounds_
        As in :class:`~sklearn.mixture.GaussianMixture`.

    See Also
    --------
    BayesianGaussianMixtureGrad : The variational mixture, with derivatives.
    GaussianKDE : A kernel density estimate: a mixture of ``n`` components
        sharing one covariance, served by the same numerical core.

    Notes
    -----
    The density is

    .. math::

        f(x) = \sum_{k=1}^K w_k\, \mathcal N(x; \mu_k, P_k^{-1}),
        \qquad P_k = U_k U_k^\top,

    with ``U_k`` read from ``precisions_cholesky_`` (``"tied"``: one ``U``;
    ``"diag"``: :math:`U_k = \mathrm{diag}(u_k)`; ``"spherical"``:
    :math:`U_k = u_k I`). With responsibilities
    :math:`r_k(x) = w_k \mathcal N(x; \mu_k, P_k^{-1}) / f(x)` (``predict_proba``)
    and :math:`g_k(x) = P_k(\mu_k - x)`,

    .. math::

        \nabla \log f &= \sum_k r_k g_k, \\
        \nabla^2 \log f &= \sum_k r_k \left[(g_k - \nabla\log f)
            (g_k - \nabla\log f)^\top - P_k\right], \\
        \nabla f &= f\,\nabla\log f, \qquad
        \nabla^2 f = f\,(\nabla^2\log f + \nabla\log f\,\nabla\log f^\top).

    Derivatives are with respect to the query point (the gradient points
    uphill). They are evaluated from responsibilities and a log-sum-exp, so
    ``log=True`` results are finite and accurate however far the query lies
    from the data. A tied mixture uses the core's shared-precision path.
    The mixture's modes are not its means: find them by ascending
    :math:`\log f` with these derivatives.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity import GaussianMixtureGrad
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-2, 1, (100, 2)), rng.normal(2, 1, (100, 2))])
    >>> gm = GaussianMixtureGrad(n_components=2, random_state=0).fit(X)
    >>> gm.gradient([[0.0, 0.0]], log=True).shape
    (1, 2)
    >>> H = gm.hessian(gm.means_, log=True)
    >>> bool(np.all(np.linalg.eigvalsh(H) < 0))
    True
    >>> Xs, ys = gm.sample(4, random_state=0)
    >>> Xs.shape, ys.shape
    ((4, 2), (4,))
    """

    def _log_weights(self):
        with np.errstate(divide="ignore"):  # a zero weight drops its component
            return np.log(self.weights_)


class BayesianGaussianMixtureGrad(
    GaussianMixtureDerivativesMixin,
    GaussianMixtureDistributionMixin,
    _MixtureFormsMixin,
    _SampleMixin,
    _CleanFailedFitMixin,
    BayesianGaussianMixture,
):
    r"""Variational Bayesian Gaussian mixture with closed-form gradient and Hessian.

    A drop-in :class:`sklearn.mixture.BayesianGaussianMixture`: the same
    parameters (defaults and validation included), the same fit, the same
    ``score_samples``, ``score``, ``predict_proba``, ... It adds
    :meth:`gradient` and :meth:`hessian` of :math:`\exp(\text{score\_samples})`
    (or of ``score_samples`` itself) for every ``covariance_type`` and both
    ``weight_concentration_prior_type``, and a ``random_state`` argument to
    :meth:`sample`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Form of the component covariances: each its own full matrix, one
        shared full matrix, each its own diagonal, each its own variance.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound.
    reg_covar : float, default=1e-6
        Added to the covariance diagonals, to keep them positive definite.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best result is kept.
    init_params : str, default="kmeans"
        How the responsibilities are initialised: "kmeans", "k-means++",
        "random" or "random_from_data".
    weight_concentration_prior_type : str, default="dirichlet_process"
        Prior on the weights: "dirichlet_process" (stick breaking) or
        "dirichlet_distribution" (a finite Dirichlet).
    weight_concentration_prior : float, default=None
        Concentration of the weight prior (``1 / n_components`` when None).
    mean_precision_prior : float, default=None
        Prior precision :math:`\beta_0` of the means (1 when None).
    mean_prior : array-like of shape (n_features,), default=None
        Prior mean of the means (the data mean when None).
    degrees_of_freedom_prior : float, default=None
        Prior Wishart degrees of freedom :math:`\nu_0` (``n_features`` when
        None).
    covariance_prior : float or array-like, default=None
        Prior covariance of the Wishart, shaped by ``covariance_type`` (the
        data covariance when None).
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation, and of :meth:`sample` when that is not
        given its own ``random_state``.
    warm_start : bool, default=False
        Start each ``fit`` from the previous solution.
    verbose : int, default=0
        Verbosity of the fit.
    verbose_interval : int, default=10
        Iterations between two progress messages.

    Attributes
    ----------
    weight_concentration_ : ndarray of shape (n_components,) or tuple
        Posterior Dirichlet parameters :math:`\alpha_k`, or the Beta
        parameters :math:`(a_k, b_k)` of the stick-breaking fractions.
    means_ : ndarray of shape (n_components, n_features)
        Posterior means :math:`\mu_k`.
    mean_precision_ : ndarray of shape (n_components,)
        :math:`\beta_k`.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        Wishart degrees of freedom :math:`\nu_k` (one for ``"tied"``).
    precisions_cholesky_ : ndarray
        Cholesky factors :math:`U_k` of :math:`P_k = \nu_k W_k`, stored by
        ``covariance_type`` as in scikit-learn.
    n_features_in_ : int
        Number of features seen during fit.
    weights_, covariances_, converged_, n_iter_, lower_bound_
        As in :class:`~sklearn.mixture.BayesianGaussianMixture`, as are the
        priors actually used (``weight_concentration_prior_``,
        ``mean_precision_prior_``, ``mean_prior_``,
        ``degrees_of_freedom_prior_``, ``covariance_prior_``).

    See Also
    --------
    GaussianMixtureGrad : The maximum-likelihood mixture, with derivatives.

    Notes
    -----
    ``score_samples`` returns :math:`\log f` with

    .. math::

        f(x) = \sum_{k=1}^K e^{a_k}\, \mathcal N(x; \mu_k, P_k^{-1}),
        \qquad
        a_k = E[\log \pi_k] - \tfrac d2 \log \nu_k
              + \tfrac12 \left(\log\Lambda_k - \frac{d}{\beta_k}\right),

    the expectation of the complete-data log-likelihood under the variational
    posterior (Bishop, eq. 10.46-10.50), with
    :math:`\log\Lambda_k = d\log 2 + \sum_{j=0}^{d-1}\psi((\nu_k - j)/2)`
    and

    - ``"dirichlet_distribution"``: :math:`E[\log\pi_k] = \psi(\alpha_k) -
      \psi(\sum_j \alpha_j)`;
    - ``"dirichlet_process"``: :math:`E[\log\pi_k] = \psi(a_k) - \psi(a_k+b_k)
      + \sum_{j<k}[\psi(b_j) - \psi(a_j+b_j)]`.

    By Jensen's inequality :math:`\sum_k e^{a_k} < 1`: :math:`f` is not the
    Student-t posterior predictive and not the plug-in mixture of
    ``weights_``, but it is the function ``score_samples`` describes, and its
    derivatives are those of a Gaussian mixture with log-weights
    :math:`a_k`; see :class:`GaussianMixtureGrad` for the formulas.
    :meth:`sample` draws from the plug-in mixture, as scikit-learn does.

    References
    ----------
    C. M. Bishop, *Pattern Recognition and Machine Learning*, Springer, 2006,
    section 10.2.

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity import BayesianGaussianMixtureGrad
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-2, 1, (100, 2)), rng.normal(2, 1, (100, 2))])
    >>> bgm = BayesianGaussianMixtureGrad(n_components=3, random_state=0).fit(X)
    >>> g = bgm.gradient(X[:3], log=True)
    >>> g.shape
    (3, 2)
    >>> bgm.hessian(X[:3]).shape
    (3, 2, 2)
    """

    def _log_weights(self):
        return _expected_log_weights(
            self.weight_concentration_, self.weight_concentration_prior_type
        ) + _variational_log_constants(
            self.degrees_of_freedom_, self.mean_precision_, self.means_.shape[1]
        )
