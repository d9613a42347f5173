"""Exact references for the tests: Gaussian mixtures summed in mpmath.

A mixture ``f(x) = sum_k w_k N(x; mu_k, P_k^-1)`` and its derivatives are
computed from the definitions, at 40 significant digits, with no log-sum-exp,
responsibilities or centring: the component derivatives are the closed forms

    grad N_k = N_k P_k (mu_k - x),
    Hess N_k = N_k (P_k (mu_k - x)(mu_k - x)^T P_k - P_k),

summed with the weights, and the log-scale derivatives follow from
``grad log f = grad f / f`` and ``Hess log f = Hess f / f - grad log f (.)^T``.
mpmath's exponent range is unbounded, so nothing underflows. The cancellation
in ``Hess log f`` far from the data (|grad log f|^2 against |P|) costs
log10(|grad log f|^2 / |P|) of the 40 digits: 16 at 1e8 kernel widths, still
leaving 24. The parameters enter as the exact values of their float64
representations, so the reference is exact for the model the estimator holds
to 1e-20 relative or better: any tolerance above 1e-19 is honest.

Each evaluation is a plain Python loop: keep to a handful of points and
components (a few milliseconds per point and component at d = 5).
"""

from dataclasses import dataclass

import mpmath
import numpy as np

DPS = 40


@dataclass
class ExactDerivatives:
    """Float64 roundings of the exact values, per query point.

    ``grad_scale`` and ``hess_scale`` are the natural scales of the log-scale
    derivatives: the responsibility-weighted sizes of the terms they sum,
    ``sum_k r_k (|g_k| + |P_k|^(1/2))`` and ``sum_k r_k (|g_k|^2 + |P_k|)``
    with ``g_k = P_k (mu_k - x)`` (max norms). Any float64 evaluation of the
    sums rounds on these scales, so a derivative near zero (a Hessian entry at
    an inflection, a gradient at a mode) is compared on them, not relative to
    itself. The density-scale derivatives have the same scales times
    ``f max(1, |log f|)`` (``density_grad_scale``, ``density_hess_scale``,
    multiplied exactly): ``f = exp(log f)`` turns the absolute rounding of
    ``log f``, relative to ``max(1, |log f|)``, into a relative one.
    """

    log_f: np.ndarray
    grad_log: np.ndarray
    hess_log: np.ndarray
    f: np.ndarray
    grad: np.ndarray
    hess: np.ndarray
    grad_scale: np.ndarray
    hess_scale: np.ndarray
    density_grad_scale: np.ndarray
    density_hess_scale: np.ndarray

    def derivatives(self, log):
        """(gradient, Hessian, gradient scale, Hessian scale) on one scale."""
        if log:
            return self.grad_log, self.hess_log, self.grad_scale, self.hess_scale
        return self.grad, self.hess, self.density_grad_scale, self.density_hess_scale


def _mp(a):
    return mpmath.mpf(float(a))


def _component(log_weight, mean, precision, log_det_precision):
    return {
        "log_w": log_weight,
        "mu": [_mp(v) for v in mean],
        "P": precision,
        "half_log_det": log_det_precision / 2,
        "P_norm": max(abs(v) for row in precision for v in row),
    }


def components_from_factors(log_weights, means, factors):
    """Components from precision factors ``U_k`` with ``P_k = U_k U_k^T``.

    Parameters
    ----------
    log_weights : sequence of K mpf or float
        Log-weights (need not be normalised; exact mpf values are kept).
    means : ndarray of shape (K, d)
    factors : ndarray of shape (K, d, d)
        Any square factors (sklearn's ``precisions_cholesky_`` expanded to
        matrices); ``log det P_k = 2 log |det U_k|``.
    """
    with mpmath.workdps(DPS):
        out = []
        for lw, mu, U in zip(log_weights, means, factors, strict=True):
            Um = mpmath.matrix([[_mp(v) for v in row] for row in U])
            P = Um * Um.T
            d = len(mu)
            Pl = [[P[i, j] for j in range(d)] for i in range(d)]
            log_det = 2 * mpmath.log(abs(mpmath.det(Um)))
            out.append(_component(_as_mpf(lw), mu, Pl, log_det))
        return out


def components_from_covariances(log_weights, means, covariances):
    """Components from covariance matrices, inverted in mpmath.

    Parameters
    ----------
    log_weights : sequence of K mpf or float
    means : ndarray of shape (K, d)
    covariances : ndarray of shape (K, d, d) or (d, d)
        One matrix per component, or one shared by all (a KDE's ``H``:
        inverted once).
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    shared = covariances.ndim == 2
    with mpmath.workdps(DPS):
        out, inverted = [], None
        for k, (lw, mu) in enumerate(zip(log_weights, means, strict=True)):
            if inverted is None or not shared:
                C = covariances if shared else covariances[k]
                Cm = mpmath.matrix([[_mp(v) for v in row] for row in C])
                P = mpmath.inverse(Cm)
                Pl = [[P[i, j] for j in range(len(mu))] for i in range(len(mu))]
                inverted = Pl, -mpmath.log(mpmath.det(Cm))
            out.append(_component(_as_mpf(lw), mu, *inverted))
        return out


def _as_mpf(value):
    return value if isinstance(value, mpmath.mpf) else _mp(value)


def log_weights_from_weights(weights):
    """Exact ``log(w_k / sum w)`` for positive weights (zeros are dropped by
    the caller)."""
    with mpmath.workdps(DPS):
        w = [_mp(v) for v in weights]
        total = mpmath.fsum(w)
        return [mpmath.log(v / total) for v in w]


def _at_point(x, components):
    d = len(x)
    xm = [_mp(v) for v in x]
    log_two_pi = mpmath.log(2 * mpmath.pi)
    f = mpmath.mpf(0)
    grad = [mpmath.mpf(0)] * d
    hess = [[mpmath.mpf(0)] * d for _ in range(d)]
    grad_scale = hess_scale = mpmath.mpf(0)
    for c in components:
        diff = [m - v for m, v in zip(c["mu"], xm, strict=True)]
        g = [mpmath.fdot(row, diff) for row in c["P"]]
        quad = mpmath.fdot(diff, g)
        a = mpmath.exp(c["log_w"] - d * log_two_pi / 2 + c["half_log_det"] - quad / 2)
        f += a
        g_norm = max(abs(v) for v in g)
        grad_scale += a * (g_norm + mpmath.sqrt(c["P_norm"]))
        hess_scale += a * (g_norm**2 + c["P_norm"])
        for i in range(d):
            grad[i] += a * g[i]
            for j in range(i + 1):
                hess[i][j] += a * (g[i] * g[j] - c["P"][i][j])
    for i in range(d):
        for j in range(i):
            hess[j][i] = hess[i][j]
    grad_log = [v / f for v in grad]
    hess_log = [
        [hess[i][j] / f - grad_log[i] * grad_log[j] for j in range(d)] for i in range(d)
    ]
    return (
        mpmath.log(f),
        grad_log,
        hess_log,
        f,
        grad,
        hess,
        grad_scale / f,
        hess_scale / f,
        grad_scale * max(1, abs(mpmath.log(f))),
        hess_scale * max(1, abs(mpmath.log(f))),
    )


def mixture_derivatives(X, components):
    """Exact log f, f and their gradients and Hessians at the rows of ``X``.

    Parameters
    ----------
    X : array-like of shape (m, d)
    components : list
        From :func:`components_from_factors` or
        :func:`components_from_covariances`.

    Returns
    -------
    ExactDerivatives
        Float64 values (``f`` and its derivatives underflow to 0 where the
        exact values are below the float64 range; the log-scale ones do not).
    """
    X = np.asarray(X, dtype=np.float64)
    with mpmath.workdps(DPS):
        rows = [_at_point(x, components) for x in X]
    m, d = X.shape
    shapes = [(m,), (m, d), (m, d, d)] * 2 + [(m,)] * 4
    fields = [
        np.array([float(v) for r in rows for v in np.ravel(r[k])]).reshape(shape)
        for k, shape in enumerate(shapes)
    ]
    return ExactDerivatives(*fields)


def _precision_factors(est):
    """sklearn's ``precisions_cholesky_`` as (K, d, d) matrices."""
    K, d = est.means_.shape
    U = np.asarray(est.precisions_cholesky_, dtype=np.float64)
    if est.covariance_type == "full":
        return U
    if est.covariance_type == "tied":
        return np.broadcast_to(U, (K, d, d))
    if est.covariance_type == "diag":
        return U[:, :, None] * np.eye(d)
    return U[:, None, None] * np.eye(d)


def _variational_log_weights(est):
    """Per-component log-constants of sklearn's variational predictive.

    ``BayesianGaussianMixture.score_samples`` sums over k
    ``exp(E[log pi_k] + log N(x; mu_k, U_k) - d/2 log nu_k
    + (log Lambda_k - d / beta_k) / 2)`` with
    ``log Lambda_k = d log 2 + sum_j digamma((nu_k - j) / 2)``; the terms are
    evaluated here in mpmath from the public fitted attributes (the tests check
    ``exp(score_samples)`` against the resulting sum before relying on it).
    """
    K, d = est.means_.shape
    nu = np.broadcast_to(np.asarray(est.degrees_of_freedom_, dtype=float), (K,))
    beta = est.mean_precision_
    psi = mpmath.digamma
    with mpmath.workdps(DPS):
        if est.weight_concentration_prior_type == "dirichlet_process":
            a, b = ([_mp(v) for v in c] for c in est.weight_concentration_)
            log_pi, rest = [], mpmath.mpf(0)
            for ak, bk in zip(a, b, strict=True):
                log_pi.append(psi(ak) - psi(ak + bk) + rest)
                rest += psi(bk) - psi(ak + bk)
        else:
            alpha = [_mp(v) for v in est.weight_concentration_]
            total = psi(mpmath.fsum(alpha))
            log_pi = [psi(v) - total for v in alpha]
        out = []
        for lp, nu_k, beta_k in zip(log_pi, nu, beta, strict=True):
            nu_k, beta_k = _mp(nu_k), _mp(beta_k)
            log_lambda = d * mpmath.log(2) + mpmath.fsum(
                psi((nu_k - j) / 2) for j in range(d)
            )
            out.append(lp - d * mpmath.log(nu_k) / 2 + (log_lambda - d / beta_k) / 2)
        return out


def components_of_sklearn_mixture(est):
    """Exact components of a fitted sklearn (Bayesian)GaussianMixture.

    Reads only public fitted attributes. For a ``GaussianMixture`` the
    log-weights are ``log(weights_)``; for a ``BayesianGaussianMixture`` they
    are the variational constants of its ``score_samples`` (not the plug-in
    ``weights_``).
    """
    if hasattr(est, "weight_concentration_"):
        log_weights = _variational_log_weights(est)
    else:
        with mpmath.workdps(DPS):
            log_weights = [mpmath.log(_mp(w)) for w in est.weights_]
    return components_from_factors(log_weights, est.means_, _precision_factors(est))
