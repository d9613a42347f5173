"""Property-based tests (hypothesis): accuracy wherever the data sit (issue 10).

Every case is compared with the direct log-sum-exp oracle of
``tests/_direct_oracle.py`` (explicit residuals per query and component, with
its own error bound; mpmath where float64 is not 10x more accurate than the
tolerance). Requirements (SPEC section 3, issue 10 item 2):

- log f within 1e-12 x max(1, |log f|);
- grad log f within 1e-8 x (|grad| + ||U||), Hess log f within
  1e-8 x (|Hess| + ||P||) in Frobenius norm (natural scale: the kernel's);
- finite log-derivatives for every finite query where the math is finite;
- the approximate algorithms within the bounds of GaussianKDE's Notes.

Cases are drawn as small parameter dicts and expanded with a seeded NumPy
generator, so that a failure is reproduced by pasting its dict into an
``@example``. Data are placed at scale ``2**scale_exp`` (1e-150..1e150) and
evaluated, in the oracle, in units of that scale: dividing by a power of two
is exact, and keeps the oracle's intermediate values inside float64.
"""

import math
import warnings
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from _direct_oracle import (
    direct_log_derivatives,
    mp_log_derivatives,
    natural_scales,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy import linalg
from scipy.special import digamma, logsumexp
from scipy.stats import gaussian_kde
from sklearn.exceptions import ConvergenceWarning

from skdensity import BayesianGaussianMixtureGrad, GaussianKDE, GaussianMixtureGrad

LOGF_RTOL = 1e-12
DERIV_RTOL = 1e-8
_U = np.finfo(np.float64).eps / 2
_LN2 = math.log(2.0)

PROFILE = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# ---------------------------------------------------------------------------
# Reference values and the comparison
# ---------------------------------------------------------------------------


def _tolerances(log_f, grad, hess, u_scale, p_scale, kappa):
    # No float64 evaluation resolves a kernel covariance H of condition kappa
    # better than ~kappa u relative (rounding H moves its small eigenvalues
    # by that much), so the requirement widens to 100 kappa u beyond ~1e4.
    floor = 100 * kappa * _U
    return (
        max(LOGF_RTOL, floor) * np.maximum(1.0, np.abs(log_f)),
        max(DERIV_RTOL, floor) * (np.linalg.norm(grad, axis=1) + u_scale),
        max(DERIV_RTOL, floor) * (np.linalg.norm(hess, axis=(1, 2)) + p_scale),
    )


def reference(Q, log_weights, means, prec_chols, kappa=1.0):
    """Oracle values and tolerances, with mpmath where float64 is too coarse.

    ``kappa`` is the largest condition number of the components'
    covariances. Returns ``(log_f, grad, hess)`` and the three tolerances
    per query.
    """
    # Far queries with tiny kernels: the oracle's squares may overflow to
    # inf, which marks those queries as beyond float64 (or sends them to mpmath).
    with np.errstate(over="ignore", invalid="ignore"):
        return _reference(Q, log_weights, means, prec_chols, kappa)


def _reference(Q, log_weights, means, prec_chols, kappa):
    log_f, grad, hess, bounds = direct_log_derivatives(
        Q, log_weights, means, prec_chols
    )
    scales = natural_scales(Q, log_weights, means, prec_chols)
    tols = _tolerances(log_f, grad, hess, *scales, kappa)
    coarse = ~np.isfinite(log_f) | ~np.all(np.isfinite(hess), axis=(1, 2))
    for bound, tol in zip(bounds, tols, strict=True):
        coarse |= ~(bound <= tol / 10)
    if coarse.any():
        exact = mp_log_derivatives(Q[coarse], log_weights, means, prec_chols)
        for value, new in zip((log_f, grad, hess), exact, strict=True):
            value[coarse] = new
        tols = _tolerances(log_f, grad, hess, *scales, kappa)
    return (log_f, grad, hess), tols


def assert_log_results_match(actual, expected, tols, what):
    """Per-query check of (log f, grad log f, Hess log f), all in scaled units.

    Queries whose true value is beyond float64 (|value| >= 1e300) are skipped
    here; every other result must be finite (a NaN or inf fails the
    comparison) and within its tolerance.
    """
    names = ("log f", "grad log f", "Hess log f")
    for name, a, e, tol in zip(names, actual, expected, tols, strict=True):
        if a is None:
            continue
        axes = tuple(range(1, e.ndim))
        with np.errstate(over="ignore"):  # beyond float64: checked non-NaN only
            err = np.sqrt(np.sum((a - e) ** 2, axis=axes)) if axes else np.abs(a - e)
        representable = (
            np.all(np.abs(e) < 1e300, axis=axes) if axes else (np.abs(e) < 1e300)
        )
        bad = representable & ~(err <= tol)
        assert not bad.any(), (
            f"{what}: {name} off at queries {np.flatnonzero(bad)}: "
            f"error {err[bad]} > tolerance {tol[bad]}; got {a[bad]}, "
            f"expected {e[bad]}"
        )


def _upper_factor(cov):
    """Upper-triangular U with U U^T = cov^-1, as scikit-learn stores it."""
    lower = linalg.cholesky(cov, lower=True)
    return linalg.solve_triangular(lower, np.eye(cov.shape[0]), lower=True).T


# ---------------------------------------------------------------------------
# GaussianKDE cases
# ---------------------------------------------------------------------------

SCALE_EXPS = [-498, -200, -30, 0, 30, 200, 498]  # 2**498 = 8.2e149
OFFSETS = [0.0, 1e3, -1e6, 1e12]
QUERY_DISTANCES = [0.0, 0.7, 3.0, 1e2, 1e4, 1e6]

kde_cases = st.fixed_dictionaries(
    {
        "d": st.integers(1, 3),
        "n": st.integers(1, 10),
        "kind": st.sampled_from(
            ["normal", "duplicates", "spread", "clusters", "rank_deficient"]
        ),
        "extent": st.integers(1, 8),
        "scale_exp": st.sampled_from(SCALE_EXPS),
        "offset": st.sampled_from(OFFSETS),
        "weights": st.sampled_from(
            ["none", "random", "zeros", "extreme", "beyond_range", "huge", "tiny"]
        ),
        "bandwidth": st.sampled_from(
            ["float", "array", "matrix", "scott", "silverman"]
        ),
        "h": st.sampled_from([1e-3, 0.3, 1.0, 10.0]),
        "algorithm": st.sampled_from(["exact", "exact", "tree", "binned"]),
        "distances": st.lists(st.sampled_from(QUERY_DISTANCES), min_size=1, max_size=4),
        "seed": st.integers(0, 2**16),
    }
)


def _kde_data(p, rng):
    n, d = p["n"], p["d"]
    kind = p["kind"]
    if kind == "duplicates":
        pool = rng.normal(size=(max(1, n // 3), d))
        z = pool[rng.integers(len(pool), size=n)]
    elif kind == "spread":
        # At most 1e8 bandwidths wide, the extent the issue requires.
        z = rng.uniform(0.0, min(10.0 ** p["extent"], 1e8 * p["h"]), size=(n, d))
    elif kind == "clusters":
        z = rng.normal(size=(n, d))
        z[: n // 2] += 10.0 ** p["extent"]
    elif kind == "rank_deficient":
        z = rng.normal(size=(n, d))
        if d == 1:
            z[:] = z[0]
        elif p["seed"] % 2:
            z[:, -1] = 0.1  # a constant column
        else:
            z[:, -1] = 0.3 * z[:, 0] + 0.7  # collinear up to rounding
    else:
        z = rng.normal(size=(n, d))
    return (p["offset"] + z) * 2.0 ** p["scale_exp"]


def _kde_weights(p, rng):
    n, pattern = p["n"], p["weights"]
    if pattern == "none":
        return None
    if pattern == "random":
        return rng.uniform(0.1, 3.0, n)
    if pattern == "zeros":
        w = rng.uniform(0.1, 3.0, n) * (rng.random(n) < 0.5)
    elif pattern == "extreme":  # ratios up to 1e300, zeros
        w = rng.choice(
            [0.0, 1e-300, 1.0] if rng.random() < 0.5 else [0.0, 1.0, 1e300], size=n
        )
    elif pattern == "beyond_range":  # normalised weights of 1e-600 and 1/2
        w = rng.choice([1e-300, 1e300], size=n)
    elif pattern == "huge":
        w = rng.choice([1.0, 1e308], size=n)
    else:
        w = np.full(n, 1e-300)
    w[rng.integers(n)] = max(w.max(), 1e-300)  # never all zero
    return w


def _kde_bandwidth(p, rng):
    d, s, h = p["d"], 2.0 ** p["scale_exp"], p["h"]
    form = p["bandwidth"]
    if form in ("scott", "silverman"):
        return form
    if form == "float":
        return h * s
    if form == "array":
        return h * s * rng.uniform(0.5, 2.0, d)
    # A symmetric positive definite matrix of condition <= 16.
    rot = np.linalg.qr(rng.normal(size=(d, d)))[0]
    H = (rot * rng.uniform(0.5, 2.0, d) ** 2) @ rot.T * (h * s) ** 2
    return (H + H.T) / 2


def _queries(X, p, rng, unit):
    """Queries at the given distances (in units of ``unit``) from data points."""
    rows = rng.integers(len(X), size=len(p["distances"]))
    v = rng.normal(size=(len(rows), X.shape[1]))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return X[rows] + np.asarray(p["distances"])[:, None] * unit * v


def _exact_rule_covariance(X, sample_weight):
    """Weighted covariance (scipy's definition) and n_eff, in exact rationals."""
    n, d = X.shape
    sw = (
        [Fraction(1)] * n
        if sample_weight is None
        else [Fraction(w) for w in sample_weight]
    )
    total = sum(sw)
    w = [v / total for v in sw]
    rows = [[Fraction(x) for x in row] for row in X]
    mean = [sum(wi * r[j] for wi, r in zip(w, rows, strict=True)) for j in range(d)]
    sum_w2 = sum(wi * wi for wi in w)
    if sum_w2 == 1:
        return None, Fraction(1)
    cov = [
        [
            sum(
                wi * (r[i] - mean[i]) * (r[j] - mean[j])
                for wi, r in zip(w, rows, strict=True)
            )
            / (1 - sum_w2)
            for j in range(d)
        ]
        for i in range(d)
    ]
    return cov, 1 / sum_w2


def _exact_eigenvalues(cov):
    """Eigenvalues of a matrix of Fractions, to 50 digits (ascending)."""
    with mpmath.workdps(50):
        A = mpmath.matrix(
            [[mpmath.mpf(c.numerator) / c.denominator for c in row] for row in cov]
        )
        return sorted(float(v) for v in mpmath.eigsy(A, eigvals_only=True))


def rule_outcome(Xs, sample_weight):
    """'raise', 'either' or 'fit' for a rule bandwidth on data ``Xs``.

    ``Xs`` are the data in units of their scale (exact powers of two apart).
    A covariance with lambda_min <= 1e-20 lambda_max (to 50 digits) is
    singular to working precision: the fit must raise. A grey zone may
    raise: fewer effective samples than d + 1; lambda_min / lambda_max below
    max(1e-10, 10 n u R), R the data's magnitude in units of their spread
    (rounding the inputs, relative u R, moves the eigenvalues by that much of
    lambda_max); or a feature whose spread is below 100 n ulps of its
    magnitude. Anything else is a valid input: the fit must succeed.
    """
    n, d = Xs.shape
    cov, n_eff = _exact_rule_covariance(Xs, sample_weight)
    if cov is None:
        return "raise", None
    eig = _exact_eigenvalues(cov)
    if eig[-1] <= 0 or eig[0] <= 1e-20 * eig[-1]:
        return "raise", cov
    magnitude = np.max(np.abs(Xs), axis=0)
    spread = np.sqrt([float(cov[j][j]) for j in range(d)])
    grey = (
        n_eff < d + 1
        or eig[0]
        <= max(1e-10, 10 * n * _U * magnitude.max() / math.sqrt(eig[-1])) * eig[-1]
        or np.any(spread <= 100 * n * _U * magnitude)
    )
    return ("either" if grey else "fit"), cov


def check_rule_covariance(kde, Xs, sample_weight, p, cov):
    """covariance_ against factor^2 times the exactly computed covariance.

    A two-pass covariance of data R spreads from the origin is exact to about
    n u + (n u R)^2 relative (the mean's rounding enters squared).
    """
    n, d = Xs.shape
    _, n_eff = _exact_rule_covariance(Xs, sample_weight)
    n_eff = float(n_eff)
    if p["bandwidth"] == "scott":
        factor = n_eff ** (-1.0 / (d + 4))
    else:
        factor = (n_eff * (d + 2) / 4.0) ** (-1.0 / (d + 4))
    assert kde.factor_ == pytest.approx(factor, rel=1e-13)
    C = np.array([[float(c) for c in row] for row in cov])
    magnitude = np.max(np.abs(Xs)) / math.sqrt(np.trace(C))
    tol = 1e-12 + 10 * (n * _U * magnitude) ** 2
    err = np.linalg.norm(kde.covariance_ / 4.0 ** p["scale_exp"] - factor**2 * C)
    rel = err / np.linalg.norm(factor**2 * C)
    assert rel <= tol, f"covariance_ relative error {rel:.3e} > {tol:.3e}"


def _kde_oracle_inputs(X, sample_weight, H, s):
    """Log-weights, means and factors of the KDE in units of the scale ``s``."""
    n, d = X.shape
    with np.errstate(divide="ignore"):
        log_sw = np.zeros(n) if sample_weight is None else np.log(sample_weight)
    log_w = log_sw - logsumexp(log_sw)
    U = _upper_factor(H / s**2)
    return log_w, X / s, np.broadcast_to(U, (n, d, d))


def _whitened_log_errors(actual, expected, U):
    """Errors of the log-results in bandwidth units, as GaussianKDE's Notes."""
    Ui = np.linalg.inv(U)
    (la, ga, ha), (le, ge, he) = actual, expected
    ga, ge = ga @ Ui.T, ge @ Ui.T
    ha, he = Ui @ ha @ Ui.T, Ui @ he @ Ui.T
    g = np.linalg.norm(ge, axis=1)
    h = np.linalg.norm(he, ord=2, axis=(1, 2))
    errors = (
        np.abs(la - le),
        np.linalg.norm(ga - ge, axis=1),
        np.linalg.norm(ha - he, ord=2, axis=(1, 2)),
    )
    bounds = (np.ones_like(g), 1 + g, 1 + h + 2 * g + 3 * g**2)
    return errors, bounds, le


def _kernel_variance_out_of_range(p, sample_weight, cov, Xs):
    """Whether H's eigenvalues leave [1e-290, 1e290]: a ValueError is then right.

    Kernel variances beyond that range overflow (or their precisions do).
    """
    d = Xs.shape[1]
    if p["bandwidth"] in ("scott", "silverman"):
        if cov is None:
            return False
        eig = np.array(_exact_eigenvalues(cov))
        _, n_eff = _exact_rule_covariance(Xs, sample_weight)
        factor = float(n_eff) ** (-1.0 / (d + 4))
        log_eig = np.log10(np.maximum(eig, 1e-300) * factor**2)
    else:  # the generated bandwidths are h s times [0.5, 2]
        log_eig = 2 * np.log10(p["h"]) + np.array([-0.7, 0.7])
    log_eig = log_eig + 2 * p["scale_exp"] * math.log10(2)
    return bool(log_eig.max() > 290 or log_eig.min() < -290)


@PROFILE
@given(p=kde_cases)
@example(
    p={
        "extent": 8,
        "scale_exp": 200,
        "kind": "clusters",
        "weights": "extreme",
        "seed": 837,
        "bandwidth": "float",
        "d": 3,
        "offset": 1e12,
        "h": 1.0,
        "algorithm": "exact",
        "distances": [3.0, 3.0, 0.7, 0.0],
        "n": 2,
    }
)
@example(
    p={
        "bandwidth": "matrix",
        "d": 3,
        "kind": "clusters",
        "weights": "tiny",
        "scale_exp": -30,
        "n": 5,
        "extent": 8,
        "seed": 1851,
        "h": 1.0,
        "offset": 1000.0,
        "distances": [0.0, 100.0, 1e6, 0.0],
        "algorithm": "exact",
    }
)
@example(
    p={
        "weights": "zeros",
        "h": 0.001,
        "extent": 3,
        "distances": [100.0, 0.7, 10000.0, 100.0],
        "algorithm": "exact",
        "bandwidth": "array",
        "d": 2,
        "scale_exp": 498,
        "seed": 21,
        "offset": 0.0,
        "kind": "spread",
        "n": 9,
    }
)
@example(
    p={
        "distances": [3.0, 10000.0, 0.7],
        "h": 10.0,
        "weights": "none",
        "d": 3,
        "seed": 335,
        "n": 6,
        "extent": 2,
        "kind": "rank_deficient",
        "algorithm": "exact",
        "offset": -1e6,
        "scale_exp": 498,
        "bandwidth": "scott",
    }
)
@example(
    p={
        "weights": "zeros",
        "offset": 1e12,
        "h": 1.0,
        "distances": [10000.0, 0.7, 100.0, 1e6],
        "bandwidth": "scott",
        "n": 2,
        "d": 2,
        "seed": 30036,
        "scale_exp": 30,
        "algorithm": "tree",
        "kind": "spread",
        "extent": 3,
    }
)
@example(
    p={
        "n": 7,
        "bandwidth": "float",
        "algorithm": "exact",
        "kind": "normal",
        "weights": "beyond_range",
        "extent": 1,
        "scale_exp": 200,
        "h": 0.001,
        "seed": 824,
        "offset": 1e12,
        "distances": [3.0, 0.7, 0.7, 10000.0],
        "d": 3,
    }
)
@example(
    p={
        "kind": "clusters",
        "weights": "beyond_range",
        "extent": 1,
        "d": 1,
        "offset": 1e12,
        "h": 0.001,
        "bandwidth": "float",
        "algorithm": "tree",
        "distances": [0.0, 10000.0],
        "n": 8,
        "seed": 8949,
        "scale_exp": -30,
    }
)
@example(
    p={
        "weights": "beyond_range",
        "distances": [0.0, 10000.0, 100.0],
        "n": 10,
        "extent": 1,
        "seed": 1000,
        "d": 1,
        "scale_exp": 30,
        "algorithm": "binned",
        "offset": 1000.0,
        "kind": "duplicates",
        "h": 10.0,
        "bandwidth": "silverman",
    }
)
def test_kde_matches_direct_oracle(p):
    """GaussianKDE, every bandwidth form and algorithm, against the oracle."""
    check_kde_case(p)


def check_kde_case(p):
    """Fit the case's KDE (or see it raise where allowed) and check it."""
    rng = np.random.default_rng(p["seed"])
    X = _kde_data(p, rng)
    sample_weight = _kde_weights(p, rng)
    bandwidth = _kde_bandwidth(p, rng)
    s = 2.0 ** p["scale_exp"]
    kde = GaussianKDE(bandwidth, algorithm=p["algorithm"])
    outcome, cov = "fit", None
    if isinstance(bandwidth, str):
        outcome, cov = rule_outcome(X / s, sample_weight)
    try:
        kde.fit(X, sample_weight=sample_weight)
    except ValueError as exc:
        grid_too_big = p["algorithm"] == "binned" and "grid" in str(exc)
        out_of_range = _kernel_variance_out_of_range(p, sample_weight, cov, X / s)
        assert outcome != "fit" or grid_too_big or out_of_range, (
            f"fit raised on valid data: {exc}"
        )
        return
    assert outcome != "raise", (
        f"fit accepted a singular covariance; covariance_={kde.covariance_!r}"
    )
    if cov is not None:
        check_rule_covariance(kde, X / s, sample_weight, p, cov)
    H = kde.covariance_
    log_w, means, U = _kde_oracle_inputs(X, sample_weight, H, s)
    unit = np.sqrt(np.linalg.eigvalsh(H).max())
    Q = _queries(X, p, rng, unit)
    eig = np.linalg.eigvalsh(H / s**2)
    kappa = eig[-1] / eig[0]
    expected, tols = reference(Q / s, log_w, means, U, kappa)
    d = X.shape[1]
    actual = (
        kde.score_samples(Q) + d * p["scale_exp"] * _LN2,
        kde.gradient(Q, log=True) * s,
        kde.hessian(Q, log=True) * s**2,
    )
    for value in actual[1:]:
        assert not np.isnan(value).any()
    if p["algorithm"] == "exact":
        assert_log_results_match(actual, expected, tols, "exact KDE")
        return
    # The approximate paths: their documented bounds (first order in rtol,
    # hence the 1 % margin) plus the exact path's own tolerance.
    errors, bounds, log_f = _whitened_log_errors(actual, expected, U[0])
    for err, bound, name in zip(errors, bounds, ("log f", "grad", "Hess"), strict=True):
        exact_rtol = max(DERIV_RTOL, 100 * kappa * _U)
        limit = (1.01 * kde.rtol + exact_rtol) * bound + exact_rtol * np.abs(log_f)
        assert np.all(err <= limit), f"{p['algorithm']}: {name} error {err} > {limit}"


# ---------------------------------------------------------------------------
# Mixture cases: fitted attributes set directly
# ---------------------------------------------------------------------------

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]

mixture_cases = st.fixed_dictionaries(
    {
        "estimator": st.sampled_from(["gmm", "bgmm"]),
        "covariance_type": st.sampled_from(COVARIANCE_TYPES),
        "prior": st.sampled_from(["dirichlet_process", "dirichlet_distribution"]),
        "k": st.integers(1, 4),
        "d": st.integers(1, 3),
        "separation": st.sampled_from([0.5, 3.0, 1e3, 1e8]),
        "scale_exp": st.sampled_from(SCALE_EXPS),
        "offset": st.sampled_from(OFFSETS),
        "weights": st.sampled_from(["random", "zero", "extreme"]),
        "distances": st.lists(st.sampled_from(QUERY_DISTANCES), min_size=1, max_size=4),
        "seed": st.integers(0, 2**16),
    }
)


def _scaled_factors(p, rng):
    """Precision factors in units of the scale, compact (sklearn) and (K, d, d)."""
    k, d, ct = p["k"], p["d"], p["covariance_type"]
    if ct == "spherical":
        compact = 1.0 / rng.uniform(0.3, 3.0, k)
        return compact, compact[:, None, None] * np.eye(d)
    if ct == "diag":
        compact = 1.0 / rng.uniform(0.3, 3.0, (k, d))
        return compact, compact[:, :, None] * np.eye(d)
    factors = []
    for _ in range(1 if ct == "tied" else k):
        rot = np.linalg.qr(rng.normal(size=(d, d)))[0]
        factors.append(_upper_factor((rot * rng.uniform(0.3, 3.0, d) ** 2) @ rot.T))
    if ct == "tied":
        return factors[0], np.broadcast_to(factors[0], (k, d, d))
    return np.array(factors), np.array(factors)


def _mixture_log_weights(p, rng, est):
    """Set the weight attributes; return the log-weights of f (the oracle's)."""
    k = p["k"]
    if p["estimator"] == "gmm":
        w = rng.dirichlet(np.ones(k))
        if p["weights"] == "zero" and k > 1:
            w[0] = 0.0
        elif p["weights"] == "extreme":
            w[0] = 1e-300
        est.weights_ = w / w.sum()
        with np.errstate(divide="ignore"):
            return np.log(est.weights_)
    # Bishop's posterior: Dirichlet (or stick-breaking Beta) weights,
    # Wishart degrees of freedom nu_k > d - 1 and mean precisions beta_k.
    spread = {"random": (0.5, 5.0), "zero": (1e-3, 1e-2), "extreme": (1e-3, 1e3)}
    low, high = spread[p["weights"]]
    if p["prior"] == "dirichlet_distribution":
        est.weight_concentration_ = rng.uniform(low, high, k)
    else:
        est.weight_concentration_ = (
            rng.uniform(low, high, k),
            rng.uniform(low, high, k),
        )
    nu = rng.uniform(p["d"], p["d"] + 50.0, k)
    tied = p["covariance_type"] == "tied"
    est.degrees_of_freedom_ = float(nu[0]) if tied else nu
    est.mean_precision_ = rng.uniform(0.01, 100.0, k)
    return _bayesian_log_weights(est, p)


def build_mixture(p):
    """A 'fitted' mixture from public attributes, and its oracle inputs (scaled)."""
    rng = np.random.default_rng(p["seed"])
    k, d, ct = p["k"], p["d"], p["covariance_type"]
    s = 2.0 ** p["scale_exp"]
    if p["estimator"] == "gmm":
        est = GaussianMixtureGrad(n_components=k, covariance_type=ct)
    else:
        est = BayesianGaussianMixtureGrad(
            n_components=k,
            covariance_type=ct,
            weight_concentration_prior_type=p["prior"],
        )
    means = (p["offset"] + p["separation"] * rng.normal(size=(k, d))) * s
    compact, U = _scaled_factors(p, rng)
    est.means_ = means
    est.precisions_cholesky_ = compact / s
    est.n_features_in_ = d
    log_w = _mixture_log_weights(p, rng, est)
    return est, (log_w, means / s, np.ascontiguousarray(U)), rng


@PROFILE
@given(p=mixture_cases)
@example(
    p={
        "estimator": "gmm",
        "covariance_type": "full",
        "prior": "dirichlet_process",
        "k": 1,
        "d": 1,
        "separation": 0.5,
        "scale_exp": -498,
        "offset": 1e12,
        "weights": "random",
        "distances": [0.7],
        "seed": 0,
    }
)
@example(
    p={
        "seed": 590,
        "offset": 1e12,
        "scale_exp": -200,
        "prior": "dirichlet_process",
        "distances": [0.7],
        "d": 1,
        "k": 4,
        "covariance_type": "spherical",
        "weights": "random",
        "estimator": "bgmm",
        "separation": 3.0,
    }
)
@example(
    p={
        "offset": 1e12,
        "weights": "zero",
        "covariance_type": "diag",
        "scale_exp": 498,
        "k": 2,
        "seed": 479,
        "distances": [1e6, 3.0, 100.0, 3.0],
        "prior": "dirichlet_process",
        "estimator": "gmm",
        "d": 1,
        "separation": 0.5,
    }
)
def test_mixture_matches_direct_oracle(p):
    """Mixture log-gradients and log-Hessians, every covariance type."""
    check_mixture_case(p)


def check_mixture_case(p):
    """Build the case's mixture and compare it with the oracle."""
    est, (log_w, means, U), rng = build_mixture(p)
    s = 2.0 ** p["scale_exp"]
    Q = _queries(est.means_, p, rng, s)
    expected, tols = reference(Q / s, log_w, means, U)
    actual = (None, est.gradient(Q, log=True) * s, est.hessian(Q, log=True) * s**2)
    assert_log_results_match(
        actual, expected, tols, f"{p['estimator']} {p['covariance_type']}"
    )


# ---------------------------------------------------------------------------
# Far queries: finite and accurate log-derivatives
# ---------------------------------------------------------------------------

far_cases = st.fixed_dictionaries(
    {
        "model": st.sampled_from(
            ["kde-float", "kde-matrix", "kde-scott"]
            + [f"{e}-{ct}" for e in ("gmm", "bgmm") for ct in COVARIANCE_TYPES]
        ),
        "magnitude": st.sampled_from([1e20, 1e100, 1e155, 1e200]),
        "seed": st.integers(0, 2**16),
    }
)


def _far_model(p, rng):
    """A model at unit scale and its oracle inputs."""
    kind, _, variant = p["model"].partition("-")
    if kind == "kde":
        X = rng.normal(size=(6, 2))
        bandwidth = {"float": 0.4, "matrix": np.array([[0.5, 0.2], [0.2, 0.3]])}
        kde = GaussianKDE(bandwidth.get(variant, variant)).fit(X)
        return kde, _kde_oracle_inputs(X, None, kde.covariance_, 1.0)
    case = {
        "estimator": kind,
        "covariance_type": variant,
        "prior": "dirichlet_process",
        "k": 3,
        "d": 2,
        "separation": 3.0,
        "scale_exp": 0,
        "offset": 0.0,
        "weights": "random",
        "seed": p["seed"],
    }
    est, oracle, _ = build_mixture(case)
    return est, oracle


@PROFILE
@given(p=far_cases)
@example(p={"model": "gmm-full", "magnitude": 1e155, "seed": 0})
@example(p={"model": "gmm-diag", "magnitude": 1e155, "seed": 0})
@example(p={"model": "gmm-spherical", "magnitude": 1e155, "seed": 0})
def test_far_queries_finite_and_accurate(p):
    """Log-derivatives finite and right at queries up to 1e200 from the data.

    The true gradient there is about -P x (finite); log f itself is below
    the float64 range beyond ~1e154 and is not checked.
    """
    check_far_case(p)


def check_far_case(p):
    """Finiteness and accuracy of the log-derivatives at the case's far queries."""
    rng = np.random.default_rng(p["seed"])
    est, (log_w, means, U) = _far_model(p, rng)
    v = rng.normal(size=(3, 2))
    Q = p["magnitude"] * v / np.linalg.norm(v, axis=1, keepdims=True)
    # The bisector of two components: responsibilities of order 1 both sides.
    Q = np.vstack([Q, Q[0] + means[:2].mean(axis=0)])
    grad = est.gradient(Q, log=True)
    hess = est.hessian(Q, log=True)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess)), (grad, hess)
    _, g_ref, h_ref = mp_log_derivatives(Q, log_w, means, U)
    norms = np.linalg.norm(U, ord=2, axis=(1, 2))
    tols = (
        None,
        DERIV_RTOL * (np.linalg.norm(g_ref, axis=1) + norms.max()),
        DERIV_RTOL * (np.linalg.norm(h_ref, axis=(1, 2)) + norms.max() ** 2),
    )
    assert_log_results_match((None, grad, hess), (None, g_ref, h_ref), tols, p["model"])


# ---------------------------------------------------------------------------
# The oracle itself against scipy and scikit-learn on benign data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_oracle_matches_scipy_gaussian_kde(weighted):
    """On unit-scale data the oracle's log f is scipy's to round-off."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    w = rng.uniform(0.5, 2.0, 30) if weighted else None
    ref = gaussian_kde(X.T, weights=w)
    Q = rng.normal(size=(5, 2)) * 2
    log_w, means, U = _kde_oracle_inputs(X, w, ref.covariance, 1.0)
    log_f = direct_log_derivatives(Q, log_w, means, U)[0]
    np.testing.assert_allclose(log_f, ref.logpdf(Q.T), rtol=1e-13)
    np.testing.assert_allclose(
        mp_log_derivatives(Q, log_w, means, U)[0], ref.logpdf(Q.T), rtol=1e-13
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("estimator", ["gmm", "bgmm"])
def test_oracle_log_weights_match_sklearn(estimator, covariance_type):
    """The oracle's mixture (Bayesian log-weights included) is sklearn's score_samples.

    Fitted on benign unit-scale data, where sklearn's own evaluation is
    accurate to round-off.
    """
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(-2, 1, (40, 2)), rng.normal(2, 0.5, (40, 2))])
    cls = GaussianMixtureGrad if estimator == "gmm" else BayesianGaussianMixtureGrad
    est = cls(
        n_components=3, covariance_type=covariance_type, max_iter=5, random_state=0
    )
    with warnings.catch_warnings():  # 5 iterations may not converge
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    p = {"estimator": estimator, "covariance_type": covariance_type, "k": 3, "d": 2}
    compact = est.precisions_cholesky_
    if covariance_type == "full":
        U = compact
    elif covariance_type == "tied":
        U = np.broadcast_to(compact, (3, 2, 2))
    elif covariance_type == "diag":
        U = compact[:, :, None] * np.eye(2)
    else:
        U = compact[:, None, None] * np.eye(2)
    if estimator == "gmm":
        log_w = np.log(est.weights_)
    else:
        p["prior"] = est.weight_concentration_prior_type
        log_w = _bayesian_log_weights(est, p)
    Q = rng.normal(size=(6, 2)) * 3
    log_f = direct_log_derivatives(Q, log_w, est.means_, np.ascontiguousarray(U))[0]
    np.testing.assert_allclose(log_f, est.score_samples(Q), rtol=1e-12)


def _bayesian_log_weights(est, p):
    """Log-weights of the variational mixture from its fitted attributes.

    Bishop (10.46-10.50): E[log pi_k] + (log Lambda_k - d / beta_k) / 2
    - d log(nu_k) / 2, with P_k = nu_k W_k stored in precisions_cholesky_.
    """
    d = est.means_.shape[1]
    if p["prior"] == "dirichlet_distribution":
        alpha = est.weight_concentration_
        e_log_pi = digamma(alpha) - digamma(alpha.sum())
    else:
        a, b = est.weight_concentration_
        stick = digamma(b) - digamma(a + b)
        e_log_pi = (
            digamma(a) - digamma(a + b) + np.concatenate(([0], np.cumsum(stick)[:-1]))
        )
    nu = np.broadcast_to(est.degrees_of_freedom_, e_log_pi.shape)
    beta = est.mean_precision_
    log_lambda = np.array(
        [d * math.log(2) + sum(digamma((v - j) / 2) for j in range(d)) for v in nu]
    )
    return e_log_pi + 0.5 * (log_lambda - d / beta) - 0.5 * d * np.log(nu)
