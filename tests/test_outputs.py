"""Readable results: bandwidth_, and DataFrames out after set_output("pandas").

Oracles: scipy.stats.gaussian_kde's covariance (bandwidth_), the arrays the
default output gives (same numbers, new container), the input's own index.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from skdensity import (
    GaussianKDE,
    GaussianMixtureGrad,
    ModeClustering,
    TransformedDensity,
)
from skdensity.datasets import load_faithful

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def frame():
    X, names = load_faithful()
    return pd.DataFrame(X, columns=names, index=[f"e{i}" for i in range(len(X))])


def test_bandwidth_is_the_kernel_standard_deviation(frame):
    X = frame.to_numpy()
    assert_allclose(GaussianKDE(bandwidth=0.4).fit(X).bandwidth_, [0.4, 0.4])
    oracle = np.sqrt(np.diag(stats.gaussian_kde(X.T).covariance))
    assert_allclose(GaussianKDE().fit(X).bandwidth_, oracle, rtol=1e-12)
    assert_allclose(GaussianKDE(bandwidth=[0.2, 3.0]).fit(X).bandwidth_, [0.2, 3.0])


@pytest.mark.parametrize(
    "estimator",
    [
        GaussianKDE(),
        GaussianMixtureGrad(2, random_state=0),
        TransformedDensity(GaussianKDE(bandwidth=0.3), StandardScaler()),
    ],
    ids=["kde", "gmm", "transformed"],
)
def test_gradient_as_dataframe(frame, estimator):
    plain = clone(estimator).fit(frame)
    est = clone(estimator).set_output(transform="pandas").fit(frame)
    Q = frame.iloc[[3, 1, 4]]
    grad = est.gradient(Q, log=True)
    assert isinstance(grad, pd.DataFrame)
    assert list(grad.columns) == ["eruptions", "waiting"]
    assert list(grad.index) == ["e3", "e1", "e4"]
    assert_allclose(grad.to_numpy(), plain.gradient(Q, log=True))
    assert isinstance(plain.gradient(Q), np.ndarray)  # default unchanged
    assert isinstance(est.hessian(Q), np.ndarray)  # 3-D stays an array


def test_sample_as_dataframe_and_clone_keeps_the_setting(frame):
    kde = GaussianKDE().set_output(transform="pandas").fit(frame)
    drawn = kde.sample(5, random_state=0)
    assert list(drawn.columns) == ["eruptions", "waiting"]
    plain = GaussianKDE().fit(frame).sample(5, random_state=0)
    assert_allclose(drawn.to_numpy(), plain)
    assert isinstance(clone(kde).fit(frame).sample(2), pd.DataFrame)
    # Mode clustering reads the DataFrames as arrays.
    clustering = ModeClustering(GaussianKDE().set_output(transform="pandas"))
    assert len(clustering.fit(frame).cluster_centers_) == 2


def test_set_output_choices(frame):
    kde = GaussianKDE().fit(frame.to_numpy()).set_output(transform="pandas")
    assert list(kde.gradient(frame.to_numpy()[:2]).columns) == ["x0", "x1"]
    assert kde.set_output() is kde
    with pytest.raises(ValueError, match="'default'.*'pandas'"):
        kde.set_output(transform="polars")
