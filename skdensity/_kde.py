"""Gaussian kernel density estimation with closed-form derivatives."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state

from ._approximate import ALGORITHMS, Approximation
from ._bandwidth import (
    BANDWIDTH_RULES,
    SELECTOR_NAMES,
    kernel_covariance,
    log_normalize_weights,
    normalize_weights,
)
from ._base import GaussianMixtureDerivativesMixin
from ._core import (
    Interval,
    StrOptions,
    check_is_fitted,
    check_sample_weight,
    discard_fit_on_error,
    fit_context,
    make_mixture,
    moment_mixture,
    validate_data,
)
from ._distribution import GaussianMixtureDistributionMixin


class GaussianKDE(
    GaussianMixtureDerivativesMixin,
    GaussianMixtureDistributionMixin,
    DensityMixin,
    BaseEstimator,
):
    r"""Gaussian kernel density estimate with closed-form gradient and Hessian.

    Parameters
    ----------
    bandwidth : float, str or array-like, default="scott"
        The kernel covariance :math:`H`, in one of these forms:

        - float ``h > 0``: :math:`H = h^2 I`, as
          :class:`sklearn.neighbors.KernelDensity` ``(bandwidth=h)``;
        - ``"scott"``: :math:`H = s^2 C`, :math:`s = n_{\mathrm{eff}}^{-1/(d+4)}`;
        - ``"silverman"``: :math:`H = s^2 C`,
          :math:`s = (n_{\mathrm{eff}} (d+2) / 4)^{-1/(d+4)}`;
        - array of ``d`` floats: :math:`H = \mathrm{diag}(h_j^2)`, per-feature
          kernel standard deviations;
        - ``(d, d)`` array: :math:`H` itself, symmetric positive definite (the
          ``H`` of R's ``ks`` package);
        - ``"normal_scale"``, ``"plugin"``, ``"scv"``, ``"lscv"``: the
          full-matrix selectors of :mod:`skdensity.bandwidth` (R ks's
          ``Hns``, ``Hpi``, ``Hscv``, ``Hlscv``), tuned for the derivative of
          order ``deriv_order``. ``"normal_scale"`` is
          :math:`H = (4 / (n_{\mathrm{eff}} (d + 2r + 2)))^{2/(d+2r+4)} C`
          (Silverman's rule for ``r = 0``) and takes sample weights; the
          others minimise an estimate of the AMISE of
          :math:`D^{\otimes r} \hat f` from the data and take none (all
          positive weights equal), ``"lscv"`` only ``r = 0``.

        :math:`C` is the weighted data covariance and
        :math:`n_{\mathrm{eff}} = 1/\sum_i w_i^2`, both as in
        :class:`scipy.stats.gaussian_kde`, whose ``"scott"`` and
        ``"silverman"`` rules these are. A rule needs more samples with
        positive weight than features, and no constant or collinear features
        to float64 precision; every form needs kernel standard deviations
        :math:`\sqrt{H_{jj}}` in [1.5e-154, 1.3e154], where :math:`H` and
        :math:`H^{-1}` are finite, and an :math:`H` of full numerical rank
        (scaled to unit diagonal, its smallest eigenvalue above ``10 d eps``
        times the largest; under a rule, plus what rounding the data can
        add).
    deriv_order : {0, 1, 2}, default=0
        Order :math:`r` of the density derivative the bandwidth selectors
        target: 0 for the density, 1 for the gradient, 2 for the Hessian.
        The optimal :math:`H` for the :math:`r`-th derivative shrinks like
        :math:`n^{-2/(d+2r+4)}`, so a gradient from a density bandwidth is
        undersmoothed. Ignored by the other bandwidth forms.
    n_jobs : int, default=None
        Number of worker threads (joblib workers under another
        :func:`joblib.parallel_config` backend) evaluating chunks of query
        points, for calls of about a million kernel terms or more. ``None``
        means the ``n_jobs`` of :func:`joblib.parallel_config` if one is
        set, else as many as BLAS would use now (threadpoolctl's limit: all
        cores by default, 1 inside :func:`threadpoolctl.threadpool_limits`
        ``(1)`` or a joblib process worker); ``-1`` means all processors.
        Results do not depend on it, nor on BLAS's threads: every matrix
        product is small enough to run on its worker's thread.
    algorithm : {"exact", "tree", "binned", "auto"}, default="exact"
        How ``score_samples``, ``gradient`` and ``hessian`` are evaluated
        (all three from the same approximation):

        - ``"exact"``: every kernel term, to round-off;
        - ``"tree"`` (any dimension): kernels farther than a radius are
          skipped, found with a k-d tree on the whitened centres; the radius
          is chosen per query so that the skipped terms provably stay below
          ``rtol`` (see Notes); queries with too little density nearby are
          evaluated exactly;
        - ``"binned"`` (at most 3 features): the data are binned on a grid,
          convolved by FFT and interpolated at the queries, with derivatives
          from the derivative kernels; queries where the binned density is
          too small to be trusted, or off the grid, go to the tree path;
        - ``"auto"``: binned for calls with ``n_kernels * n_queries > 2e7``
          when there are at most 3 features and enough kernels to pay for
          the grid (about 13 000 in 2-D, 300 000 in 3-D at the default
          rtol), exact otherwise. The tree path pays only when the bandwidth
          is small against the spread of the data; choose it explicitly.

        The tree and the grid are built by ``fit``.
    rtol : float in (0, 1), default=1e-4
        Error tolerance of the approximate algorithms, relative to the
        density (see Notes). Ignored by ``"exact"``.
    grid_spacing : float, default=None
        Grid step of ``"binned"`` in kernel bandwidths (along the whitened
        axes). ``None`` uses 0.25, coarsened when the grid would exceed
        2**23 nodes. It must not exceed a bound set by ``rtol`` (about 0.5
        for the default), which the error message states.

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_kernels, n_features)
        Kernel centres: the training points with positive sample weight.
    weights_ : ndarray of shape (n_kernels,)
        Kernel weights, summing to one (a weight below 1e-308 of the total
        shows as 0 here but keeps its kernel, evaluated from its logarithm).
    covariance_ : ndarray of shape (n_features, n_features)
        Kernel covariance :math:`H`.
    precision_cholesky_ : ndarray of shape (n_features, n_features)
        Upper-triangular :math:`U` with :math:`U U^\top = H^{-1}`.
    covariance_cholesky_ : ndarray of shape (n_features, n_features)
        Lower-triangular :math:`L = U^{-\top}` with :math:`L L^\top = H`
        (``sample`` draws the kernel noise with it).
    bandwidth_ : ndarray of shape (n_features,)
        Kernel standard deviation along each feature,
        :math:`\sqrt{H_{jj}}`: ``h`` for every feature when ``bandwidth`` is
        a float ``h`` (the value :class:`~sklearn.neighbors.KernelDensity`
        calls ``bandwidth_``), the rule's :math:`s \sqrt{C_{jj}}` under a
        rule. The kernel's orientation is in ``covariance_``.
    bandwidth_method_ : str
        How :math:`H` was obtained: the rule's or selector's name
        (``"scott"``, ..., ``"plugin"``), or ``"explicit"`` for a float or
        array bandwidth. Kept because ``covariance_`` alone does not say
        whether it was selected for the density or a derivative.
    factor_ : float or None
        Bandwidth factor :math:`s` of a rule, ``None`` for explicit bandwidths.
    n_eff_ : float
        Effective sample size :math:`1/\sum_i w_i^2`.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    scipy.stats.gaussian_kde : Same model and rules, no derivatives.
    sklearn.neighbors.KernelDensity : Isotropic kernels, no derivatives.
    GaussianMixtureGrad : Gaussian mixture model with the same derivatives.
    skdensity.bandwidth : The bandwidth matrix selectors.

    Notes
    -----
    The density is the mixture

    .. math::

        f(x) = \sum_{i=1}^n w_i\, \mathcal N(x; x_i, H),
        \qquad w_i = \frac{\mathrm{sample\_weight}_i}{\sum_j
        \mathrm{sample\_weight}_j}.

    With responsibilities :math:`r_i(x) = w_i \mathcal N(x; x_i, H) / f(x)`
    and :math:`\bar x(x) = \sum_i r_i(x) x_i`,

    .. math::

        \nabla \log f(x) &= H^{-1} (\bar x(x) - x), \\
        \nabla^2 \log f(x) &= H^{-1} \Big(\sum_i r_i(x) (x_i - \bar x)
            (x_i - \bar x)^\top - H\Big) H^{-1}, \\
        \nabla f &= f\, \nabla \log f, \qquad
        \nabla^2 f = f\,(\nabla^2 \log f + \nabla \log f\, \nabla\log f^\top).

    The gradient is taken with respect to the query point and points uphill;
    :math:`x + H \nabla \log f(x) = \bar x(x)` is the mean-shift step.
    Evaluation whitens once, forms squared distances by matrix products and
    accumulates a log-sum-exp over chunks sized by scikit-learn's
    ``working_memory``, so log-results are finite for every finite query.

    ``score`` returns the total log-likelihood (a sum), as
    :class:`~sklearn.neighbors.KernelDensity` does.

    Approximate algorithms. In whitened coordinates :math:`y = x U` every
    kernel is :math:`\kappa e^{-\|y - y_i\|^2/2}`; write
    :math:`\nabla_y = U^{-1}\nabla` for derivatives in bandwidth units.
    ``"tree"`` guarantees, at every query,

    .. math::

        |\tilde f - f| \le \epsilon f, \quad
        \|\nabla_y \tilde f - \nabla_y f\| \le \epsilon f, \quad
        \|\nabla_y^2 \tilde f - \nabla_y^2 f\|_2 \le \epsilon f,
        \qquad \epsilon = \mathrm{rtol},

    because kernels farther than :math:`r` contribute at most
    :math:`\kappa e^{-r^2/2}`, :math:`\kappa r e^{-r^2/2}` and
    :math:`\kappa (r^2 - 1) e^{-r^2/2}` per unit weight to the three, and
    :math:`r` is enlarged until that is below :math:`\epsilon` times the
    density already summed. ``"binned"`` bins with a narrow Gaussian instead
    of linear binning, so that its error is exponentially small in the grid
    step rather than :math:`O(\delta^2)`; its grid and cut-offs are set from
    the same target with a calibrated margin (measured errors at most 0.7
    rtol, for the Hessian; far less for f), not a proof. For the logarithm,
    to first order,
    :math:`|\Delta\log f| \le \epsilon`,
    :math:`\|\Delta\nabla_y\log f\| \le \epsilon(1 + \|g\|)` with
    :math:`g = \nabla_y \log f`, and
    :math:`\|\Delta\nabla_y^2\log f\|_2 \le
    \epsilon(1 + \|\nabla_y^2\log f\|_2 + 2\|g\| + 3\|g\|^2)`.
    Log-results stay finite far from the data (exact evaluation there).

    Examples
    --------
    >>> import numpy as np
    >>> from skdensity import GaussianKDE
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> kde = GaussianKDE(bandwidth=0.5).fit(X)
    >>> kde.covariance_
    array([[0.25, 0.  ],
           [0.  , 0.25]])
    >>> kde.gradient([[0.0, 0.0]], log=True).shape
    (1, 2)
    >>> kde.hessian([[0.0, 0.0]]).shape
    (1, 2, 2)
    """

    _parameter_constraints = {
        "bandwidth": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions(set(BANDWIDTH_RULES) | set(SELECTOR_NAMES)),
            "array-like",
        ],
        "deriv_order": [Interval(Integral, 0, 2, closed="both")],
        # joblib's convention: -1 all processors, -2 all but one, ...; 0 has
        # no meaning (joblib would say so only once a call is large enough).
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "rtol": [Interval(Real, 0, 1, closed="neither")],
        "grid_spacing": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        bandwidth="scott",
        *,
        deriv_order=0,
        n_jobs=None,
        algorithm="exact",
        rtol=1e-4,
        grid_spacing=None,
    ):
        self.bandwidth = bandwidth
        self.deriv_order = deriv_order
        self.n_jobs = n_jobs
        self.algorithm = algorithm
        self.rtol = rtol
        self.grid_spacing = grid_spacing

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the kernel density estimate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; each row becomes a kernel centre.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, not all zero; rows with weight zero are
            dropped. ``None`` gives every row the same weight. Only ratios
            matter: weights are normalised by their largest first, so any
            finite float64 weights work.

        Returns
        -------
        self : GaussianKDE
            The fitted estimator.

        Raises
        ------
        ValueError
            For bad input, with a message that says what to change: a rule
            bandwidth on too few samples, on weights that put all the weight
            on one sample, or on constant or collinear features (named); a
            bandwidth matrix that is not positive definite to float64
            precision; kernel standard deviations whose square or inverse
            over- or underflows. A fit that raises, or is interrupted, leaves
            the estimator unfitted.
        """
        private = ("_mixture", "_approximation", "_log_weights")
        with discard_fit_on_error(self, private=private):
            return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight):
        X = validate_data(self, X, dtype=np.float64)
        weights = check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        # The kernels take their log-weights from the raw weights: a weight
        # 1e-600 of the total underflows when normalised, yet its kernel
        # dominates the density far from the others.
        keep, log_weights = log_normalize_weights(weights)
        weights = normalize_weights(weights)
        kernel = kernel_covariance(
            self.bandwidth,
            X,
            weights,
            getattr(self, "feature_names_in_", None),
            deriv_order=self.deriv_order,
        )
        return self._set_kernels(X[keep], log_weights, kernel)

    def _set_kernels(self, centres, log_weights, kernel):
        """Store the fitted model: kernel centres, log-weights, covariance."""
        self.X_fit_ = centres
        self.weights_ = np.exp(log_weights)
        self.covariance_ = kernel.covariance
        self.bandwidth_ = np.sqrt(np.diag(kernel.covariance))
        self.covariance_cholesky_ = kernel.covariance_cholesky
        self.precision_cholesky_ = kernel.precision_cholesky
        self.factor_ = kernel.factor
        self.n_eff_ = kernel.n_eff
        self.bandwidth_method_ = kernel.method
        self._log_weights = log_weights
        self._mixture = make_mixture(log_weights, centres, kernel.precision_cholesky)
        self._approximation = None
        if self.algorithm != "exact":
            self._approximation = Approximation(
                self.algorithm, self._mixture, self.rtol, self.grid_spacing
            )
        return self

    def _get_mixture(self):
        return self._mixture

    def _moment_mixture(self):
        return moment_mixture(self._log_weights, self.X_fit_, self.covariance_)

    def _from_moment_mixture(self, mixture, feature_names):
        """A fitted KDE of ``mixture`` (shared covariance), same settings."""
        params = self.get_params()
        params["bandwidth"] = mixture.covariance
        kde = GaussianKDE(**params)
        keep = mixture.log_weights > -np.inf
        centres, log_weights = mixture.means[keep], mixture.log_weights[keep]
        kde.n_features_in_ = centres.shape[1]
        if feature_names is not None:
            kde.feature_names_in_ = np.asarray(feature_names, dtype=object)
        kernel = kernel_covariance(
            kde.bandwidth, centres, np.exp(log_weights), feature_names
        )
        return kde._set_kernels(centres, log_weights, kernel)

    def integrate_kde(self, other):
        """Integral of the product with another density: scipy's name.

        The same as :meth:`integrate_product`, under the name
        :class:`scipy.stats.gaussian_kde` gives it.

        Parameters
        ----------
        other : fitted estimator of skdensity
            On the same features.

        Returns
        -------
        value : float
        """
        return self.integrate_product(other)

    def _evaluate(self, X, order):
        if self._approximation is None:
            return super()._evaluate(X, order)
        return self._approximation.evaluate(X, order, n_jobs=self.n_jobs)

    def score_samples(self, X):
        """Log-density at each query point.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query points.

        Returns
        -------
        log_density : ndarray of shape (n_queries,)
            :math:`\\log f(x)`, finite for every finite query.
        """
        return self._log_density_derivatives(X, order=0)[0]

    def score(self, X, y=None):
        """Total log-likelihood of ``X`` (a sum, as ``KernelDensity.score``).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query points.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        log_likelihood : float
            :math:`\\sum_j \\log f(x_j)`.
        """
        return float(np.sum(self.score_samples(X)))

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the density.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed or generator; pass an int for reproducible draws.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            A kernel centre drawn by weight, plus :math:`\\mathcal N(0, H)` noise
            (a DataFrame after ``set_output(transform="pandas")``).
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"n_samples must be a positive integer; got {n_samples!r}."
            )
        rng = check_random_state(random_state)
        centres = rng.choice(self.weights_.size, size=n_samples, p=self.weights_)
        z = rng.standard_normal((n_samples, self.n_features_in_))
        return self._wrap_output(self.X_fit_[centres] + z @ self.covariance_cholesky_.T)
