"""Degenerate data, weights and bandwidths: the right value or a clear error.

Oracles: closed forms, exact rational arithmetic (fractions), scipy's
``gaussian_kde`` at a normal scale with exact power-of-two rescaling.
"""

import re
import tracemalloc
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import skdensity._bandwidth as bandwidth_module
from skdensity import GaussianKDE

LOG_2PI = np.log(2 * np.pi)


def _fit_error(estimator, X, **kwargs):
    with pytest.raises(ValueError) as info:
        estimator.fit(X, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------------------
# Item 3: singular data covariance, whatever rounding and memory layout do
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["scott", "silverman"])
def test_exactly_collinear_rounded_data_is_singular(rule):
    # Collinear in exact arithmetic; rounding left a covariance that Cholesky
    # accepted (eigenvalue ~1e-18).
    message = _fit_error(GaussianKDE(rule), [[0, 0.3], [0.1, 0.4], [0.2, 0.5]])
    assert "feature(s) 0, 1 are collinear" in message
    assert "float bandwidth" in message


def test_random_rank_deficient_data_always_rejected():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_features = int(rng.integers(2, 9))
        rank = int(rng.integers(1, n_features))
        n_samples = int(rng.choice([n_features + 1, 20, 300]))
        mixing = rng.normal(size=(rank, n_features))
        mixing *= 10.0 ** rng.uniform(-3, 3, size=n_features)
        X = rng.normal(size=(n_samples, rank)) @ mixing
        X += 10.0 ** rng.uniform(-3, 6) * rng.normal(size=n_features)
        X *= 10.0 ** rng.uniform(-100, 100)
        weights = rng.exponential(size=n_samples) if rng.random() < 0.5 else None
        for layout in (np.ascontiguousarray, np.asfortranarray):
            message = _fit_error(GaussianKDE(), layout(X), sample_weight=weights)
            assert "collinear" in message or "constant" in message, message


def test_collinear_features_are_named():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(100, 3))
    X = np.c_[Z, Z[:, 0] - 2 * Z[:, 2] + 1e6, rng.normal(size=100)]
    message = _fit_error(GaussianKDE(), X)
    assert "feature(s) 0, 2, 3 are collinear" in message
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    message = _fit_error(GaussianKDE(), frame)
    assert "feature(s) 0 ('a'), 2 ('c'), 3 ('d') are collinear" in message


@pytest.mark.parametrize("layout", [np.ascontiguousarray, np.asfortranarray])
def test_constant_column_rejected_in_any_layout(layout):
    rng = np.random.default_rng(2)
    X = layout(np.c_[rng.normal(size=(150, 2)), np.ones(150)])
    assert "Feature(s) 2 are constant" in _fit_error(GaussianKDE(), X)
    frame = pd.DataFrame(X, columns=["x", "y", "one"])
    assert "Feature(s) 2 ('one') are constant" in _fit_error(GaussianKDE(), frame)


_K = np.arange(1.0, 6.0)


@pytest.mark.parametrize(
    "column",
    [
        np.full(5, 0.1),
        np.zeros(5),
        0.1 * _K / _K,
        1e6 + _K * np.spacing(1e6),
        -1e-200 * (1 + 2 * np.finfo(float).eps * _K),
    ],
    ids=["tenth", "zero", "computed", "1e6_plus_ulps", "tiny_plus_ulps"],
)
def test_constant_within_rounding_of_the_values(column):
    message = _fit_error(GaussianKDE(), column[:, None])
    assert "Feature(s) 0 are constant" in message
    X = np.c_[_K, column]
    assert "Feature(s) 1 are constant" in _fit_error(GaussianKDE("silverman"), X)


def _exact_covariance(X):
    """Unbiased covariance of the stored values, in rational arithmetic."""
    rows = [[Fraction(x) for x in row] for row in X]
    n, d = len(rows), len(rows[0])
    mean = [sum(r[j] for r in rows) / n for j in range(d)]
    return np.array(
        [
            [
                float(sum((r[i] - mean[i]) * (r[j] - mean[j]) for r in rows) / (n - 1))
                for j in range(d)
            ]
            for i in range(d)
        ]
    )


@pytest.mark.parametrize(
    "offset, spread", [(1e12, 1.0), (1.7e18, 1e9), (2.0**20, 1.0), (-1e6, 1e-6)]
)
def test_data_far_from_the_origin_are_fitted_exactly(offset, spread):
    # 1.7e18 +- 1e9: timestamps in epoch nanoseconds, a second apart.
    rng = np.random.default_rng(5)
    X = offset + spread * rng.normal(size=(6, 2))
    kde = GaussianKDE().fit(X)
    assert_allclose(kde.factor_, 6 ** (-1 / 6), rtol=1e-15)
    expected = kde.factor_**2 * _exact_covariance(X)
    assert_allclose(kde.covariance_, expected, rtol=1e-12)


def test_collinear_before_rounding_around_an_offset_is_singular():
    # Exactly collinear, then rounded to the ulp of 1e12 (1.2e-4 of the spread).
    z = np.random.default_rng(14).normal(size=20)
    X = np.c_[z, 0.3 * z + 0.7] + 1e12
    message = _fit_error(GaussianKDE(), X)
    assert "feature(s) 0, 1 are collinear" in message


@pytest.mark.parametrize(
    "H, kind",
    [
        (np.ones((3, 3)), "numerically singular|not positive definite"),
        (np.array([[1.0, 1 - 1e-15], [1 - 1e-15, 1.0]]), "numerically singular"),
        (np.array([[4.0, 2.0], [2.0, 1.0]]) * 1e-100, "numerically singular"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), "not positive definite"),
        (np.diag([1.0, 0.0]), "not positive definite"),
    ],
    ids=["ones", "correlation_1-1e-15", "rank_one_tiny", "indefinite", "zero_diag"],
)
def test_singular_bandwidth_matrix(H, kind):
    X = np.random.default_rng(6).normal(size=(10, H.shape[0]))
    message = _fit_error(GaussianKDE(H), X)
    assert re.search(kind, message), message
    assert "must be" in message


def test_nearly_singular_bandwidth_matrix_is_accepted_and_inverted():
    c = 1 - 1e-10
    H = np.array([[1.0, c], [c, 1.0]]) * 1e-100
    kde = GaussianKDE(H).fit(np.zeros((1, 2)))
    # Closed-form inverse of [[1, c], [c, 1]] * t: [[1, -c], [-c, 1]] / (t (1 - c^2)).
    inverse = np.array([[1.0, -c], [-c, 1.0]]) / (1e-100 * (1 - c) * (1 + c))
    U = kde.precision_cholesky_
    assert_allclose(U @ U.T, inverse, rtol=1e-5)
    assert_allclose(kde.covariance_, H, rtol=0)


# ---------------------------------------------------------------------------
# Item 4: weights and bandwidths at the ends of float64
# ---------------------------------------------------------------------------

X3 = np.array([[0.0], [1.0], [5.0]])


def test_dominant_weight_under_rule_is_a_clear_error():
    message = _fit_error(GaussianKDE(), X3, sample_weight=[1, 1e-17, 1e-17])
    assert "n_eff = 1 + 4e-17" in message
    assert "sample 0" in message
    assert "larger share of the weight" in message


def test_nearly_dominant_weight_gives_exact_unbiased_covariance():
    # 1 - sum(w^2) = 4e-15 loses ~10% to cancellation when formed naively.
    raw = [Fraction(1), Fraction(1e-15), Fraction(1e-15)]
    w = [v / sum(raw) for v in raw]
    mean = sum(wi * Fraction(x) for wi, x in zip(w, X3[:, 0], strict=True))
    spread = sum(
        wi * (Fraction(x) - mean) ** 2 for wi, x in zip(w, X3[:, 0], strict=True)
    )
    sum_sq = sum(wi**2 for wi in w)
    data_cov = float(spread / (1 - sum_sq))
    n_eff = float(1 / sum_sq)
    kde = GaussianKDE().fit(X3, sample_weight=[1, 1e-15, 1e-15])
    assert_allclose(kde.n_eff_, n_eff, rtol=1e-15)
    assert_allclose(kde.covariance_, [[n_eff ** (-2 / 5) * data_cov]], rtol=1e-12)


def test_huge_weights_are_normalised_without_overflow():
    kde = GaussianKDE(1.0).fit(X3, sample_weight=[1e308, 1e308, 1])
    # f(0.5) = (phi(0.5) + phi(0.5)) / 2 + 5e-309 phi(4.5): the last term is
    # below float64 resolution.
    assert_allclose(kde.score_samples([[0.5]]), [-0.5 * LOG_2PI - 0.125], rtol=1e-14)
    assert_allclose(kde.score_samples([[0.5]]), [-1.0439385332046727], rtol=1e-14)


def test_weight_below_float64_range_of_the_total_keeps_its_kernel():
    # Normalised weights 1 and 1e-600: the second underflows, but far from
    # the first kernel it is all the density there is.
    kde = GaussianKDE(1.0).fit([[0.0], [100.0]], sample_weight=[1e300, 1e-300])
    assert kde.X_fit_.shape == (2, 1)
    expected = -600 * np.log(10) - 0.5 * LOG_2PI
    assert_allclose(kde.score_samples([[100.0]]), [expected], rtol=1e-14)
    # d log f / dx = -(x - 100) there.
    assert_allclose(kde.gradient([[100.5]], log=True), [[-0.5]], rtol=1e-12)


@pytest.mark.parametrize("scale", [1e308, 1e-320])
def test_extreme_equal_weights_are_uniform_weights(scale):
    # Data [0, 1, 5]: mean 2, unbiased variance 14 / 2 = 7, Scott's s = 3^(-1/5).
    kde = GaussianKDE().fit(X3, sample_weight=[scale] * 3)
    assert_allclose(kde.weights_, [1 / 3] * 3, rtol=1e-15)
    assert_allclose(kde.covariance_, [[3 ** (-2 / 5) * 7]], rtol=1e-14)


@pytest.mark.parametrize(
    "bandwidth, word",
    [
        (1e-170, "underflows"),
        (1e170, "overflows"),
        (np.array([1.0, 1e-160]), "underflows"),
        (np.array([1e160, 1.0]), "overflows"),
        (np.diag([1.0, 1e-310]), "underflows"),
    ],
    ids=[
        "float_small",
        "float_large",
        "per_feature_small",
        "per_feature_large",
        "matrix",
    ],
)
def test_bandwidth_out_of_float64_range(bandwidth, word):
    X = np.random.default_rng(7).normal(size=(10, 2))
    message = _fit_error(GaussianKDE(bandwidth), X)
    assert word in message
    assert "[1.5e-154, 1.3e+154]" in message
    assert "rescale the data" in message


@pytest.mark.parametrize("scale, word", [(1e-160, "underflows"), (1e160, "overflows")])
def test_rule_on_data_out_of_float64_range(scale, word):
    X = scale * np.random.default_rng(8).normal(size=(50, 2))
    message = _fit_error(GaussianKDE(), X)
    assert word in message and "bandwidth='scott' on these data" in message


@pytest.mark.parametrize("exponent", [-500, 490])
def test_rule_at_extreme_but_usable_scale_matches_scipy(exponent):
    # Scaling by an exact power of two scales scipy's covariance exactly.
    X = np.random.default_rng(9).normal(size=(40, 2))
    c = 2.0**exponent
    kde = GaussianKDE().fit(X * c)
    expected = stats.gaussian_kde(X.T).covariance * c * c
    assert_allclose(kde.covariance_, expected, rtol=1e-12)
    U = kde.precision_cholesky_
    assert np.all(np.isfinite(U))
    assert_allclose(U @ U.T @ kde.covariance_, np.eye(2), atol=1e-12)


@pytest.mark.parametrize("h", [1e-100, 1e-150, 1e100, 1e150])
def test_tiny_and_huge_representable_bandwidths_work(h):
    X = np.array([[0.0], [h]])
    kde = GaussianKDE(h).fit(X)
    assert_allclose(kde.covariance_, [[h * h]], rtol=1e-15)
    assert_allclose(kde.precision_cholesky_, [[1 / h]], rtol=1e-15)
    # f(0) = (phi(0) + phi(1)) / (2 h), with phi the standard normal density.
    expected = np.log((1 + np.exp(-0.5)) / 2) - 0.5 * LOG_2PI - np.log(h)
    assert_allclose(kde.score_samples([[0.0]]), [expected], rtol=1e-14)


# ---------------------------------------------------------------------------
# Item 5: every O(n d) check before any O(d^2) work
# ---------------------------------------------------------------------------


def test_fewer_samples_than_features_fails_before_the_covariance():
    n_features = 3000
    X = np.random.default_rng(10).normal(size=(5, n_features))
    tracemalloc.start()
    try:
        message = _fit_error(GaussianKDE(), X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "got 5 samples for 3000 features" in message
    # A d x d float64 matrix is 72 MB; the O(n d) checks need a few copies of X.
    assert peak < n_features * n_features * 8 / 20


_RNG = np.random.default_rng(11)


@pytest.mark.parametrize(
    "X, weights, match",
    [
        (np.c_[np.ones(50), _RNG.normal(size=(50, 39))], None, "constant"),
        (_RNG.normal(size=(50, 40)), np.r_[1.0, [1e-18] * 49], "n_eff"),
        (_RNG.normal(size=(30, 40)), None, "got 30 samples"),
    ],
    ids=["constant", "dominant_weight", "too_few_samples"],
)
def test_cheap_checks_run_before_the_quadratic_step(X, weights, match, monkeypatch):
    def quadratic_step(*args, **kwargs):
        raise AssertionError("the O(n d^2) covariance ran before the O(n d) checks")

    monkeypatch.setattr(bandwidth_module, "_scaled_covariance", quadratic_step)
    monkeypatch.setattr(bandwidth_module.linalg, "eigh", quadratic_step)
    with pytest.raises(ValueError, match=match):
        GaussianKDE().fit(X, sample_weight=weights)
