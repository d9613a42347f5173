"""Bad input to GaussianKDE raises a clear error and leaves nothing half-done."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skdensity import GaussianKDE, GaussianMixtureGrad, ModeClustering

X = np.random.default_rng(0).normal(size=(30, 2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_training_data(bad):
    Xb = X.copy()
    Xb[3, 1] = bad
    with pytest.raises(ValueError, match="(NaN|infinity)"):
        GaussianKDE().fit(Xb)


@pytest.mark.parametrize("method", ["score_samples", "gradient", "hessian"])
def test_non_finite_queries(method):
    kde = GaussianKDE().fit(X)
    with pytest.raises(ValueError, match="NaN"):
        getattr(kde, method)([[0.0, np.nan]])


@pytest.mark.parametrize("method", ["score_samples", "gradient", "hessian", "score"])
def test_wrong_number_of_features(method):
    kde = GaussianKDE().fit(X)
    with pytest.raises(ValueError, match="3 features, but GaussianKDE is expecting 2"):
        getattr(kde, method)(np.zeros((4, 3)))


def test_empty_data_and_queries():
    with pytest.raises(ValueError, match="0 sample"):
        GaussianKDE().fit(np.empty((0, 2)))
    kde = GaussianKDE().fit(X)
    with pytest.raises(ValueError, match="0 sample"):
        kde.gradient(np.empty((0, 2)))


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, "scot", None])
def test_invalid_bandwidth_parameter(bandwidth):
    with pytest.raises(ValueError, match="'bandwidth' parameter of GaussianKDE"):
        GaussianKDE(bandwidth=bandwidth).fit(X)


@pytest.mark.parametrize(
    "bandwidth, match",
    [
        (np.inf, "range \\(0.0, inf\\)"),
        (np.array([0.5, -0.1]), "finite and > 0"),
        (np.array([0.5, 0.2, 0.3]), "shape \\(3,\\).*2 features"),
        (np.eye(3), "shape \\(3, 3\\).*2 features"),
        (np.array([[1.0, 0.5], [0.2, 1.0]]), "symmetric"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), "not positive definite"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "finite"),
    ],
)
def test_invalid_explicit_bandwidth(bandwidth, match):
    with pytest.raises(ValueError, match=match):
        GaussianKDE(bandwidth=bandwidth).fit(X)


@pytest.mark.parametrize("rule", ["scott", "silverman"])
@pytest.mark.parametrize(
    "data, match",
    [
        (np.c_[np.arange(10.0), 2 * np.arange(10.0)], "singular"),
        (np.ones((10, 2)), "singular"),
        (np.array([[1.0, 2.0]]), "got 1 sample"),
        (
            np.random.default_rng(1).normal(size=(3, 5)),
            "more samples with positive weight than features; got 3 samples",
        ),
    ],
    ids=["collinear", "identical", "single", "fewer_samples_than_features"],
)
def test_rule_bandwidth_on_singular_data(rule, data, match):
    with pytest.raises(ValueError, match=match) as info:
        GaussianKDE(bandwidth=rule).fit(data)
    # The message says what to do instead.
    assert "float bandwidth" in str(info.value)


def test_single_sample_works_with_explicit_bandwidth():
    kde = GaussianKDE(bandwidth=1.0).fit([[0.0, 0.0]])
    assert np.isfinite(kde.score_samples([[1.0, 1.0]])).all()


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.ones(29), "sample_weight.shape == \\(29,\\), expected \\(30,\\)"),
        (np.r_[-1.0, np.ones(29)], "Negative values"),
        (np.zeros(30), "sum of the weights is zero|all zero|zero"),
        (np.r_[np.nan, np.ones(29)], "NaN"),
    ],
    ids=["length", "negative", "all_zero", "nan"],
)
def test_invalid_sample_weight(weights, match):
    with pytest.raises(ValueError, match=match):
        GaussianKDE().fit(X, sample_weight=weights)


def test_single_positive_weight_under_rule_bandwidth():
    w = np.zeros(30)
    w[4] = 1.0
    with pytest.raises(ValueError, match="got 1 sample"):
        GaussianKDE().fit(X, sample_weight=w)


@pytest.mark.parametrize(
    "method", ["score_samples", "score", "gradient", "hessian", "sample"]
)
def test_not_fitted(method):
    args = () if method == "sample" else (X,)
    with pytest.raises(NotFittedError):
        getattr(GaussianKDE(), method)(*args)


def test_failed_fit_leaves_no_fitted_state():
    kde = GaussianKDE().fit(X)
    with pytest.raises(ValueError):
        kde.fit(np.ones((10, 2)))
    with pytest.raises(NotFittedError):
        kde.score_samples(X)
    assert not any(name.endswith("_") for name in vars(kde))
    assert not hasattr(kde, "_mixture")


@pytest.mark.parametrize("n_samples", [0, -3, 2.5])
def test_invalid_n_samples(n_samples):
    kde = GaussianKDE().fit(X)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        kde.sample(n_samples)


def _raise_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# What each estimator's fit calls after validate_data has set n_features_in_.
_INTERRUPT_POINTS = {
    "kde": (GaussianKDE, "skdensity._kde.make_mixture"),
    "mixture": (
        lambda: GaussianMixtureGrad(n_components=2, random_state=0),
        "skdensity._mixture.GaussianMixture._m_step",
    ),
    "mode_clustering": (ModeClustering, "skdensity._modes._cluster.prepare_ascent"),
}


@pytest.mark.parametrize("kind", sorted(_INTERRUPT_POINTS))
def test_interrupted_refit_leaves_no_fitted_state(kind, monkeypatch):
    make, target = _INTERRUPT_POINTS[kind]
    estimator = make().fit(X)
    assert estimator.n_features_in_ == 2
    monkeypatch.setattr(target, _raise_interrupt)
    X3 = np.random.default_rng(2).normal(size=(40, 3))
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X3)
    fitted = [name for name in vars(estimator) if name.endswith("_")]
    assert fitted == []
    with pytest.raises(NotFittedError):
        check_is_fitted(estimator)


@pytest.mark.parametrize("bandwidth", [True, [True, False]])
def test_boolean_bandwidth_is_refused(bandwidth):
    # bool is an int in Python: without this check True would be h = 1.
    with pytest.raises(ValueError, match="is boolean"):
        GaussianKDE(bandwidth).fit([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])


def test_n_jobs_zero_is_refused_at_fit():
    # joblib gives 0 no meaning; it said so only once a call was large enough
    # to be split, so a small model worked until a large call failed.
    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        GaussianKDE(n_jobs=0).fit([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    GaussianKDE(n_jobs=-2).fit([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
