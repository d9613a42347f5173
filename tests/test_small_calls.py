"""One-query calls (issue 17, item 1): the fast path keeps every check.

Queries that are already 2-D float64 arrays of the fitted width skip
``validate_data``'s conversions; these tests check that everything else
still gets its errors and warnings, that the fast path gives the results of
the converted path, and that a query's result does not depend on the other
queries of its call beyond rounding (padding rows are no longer
exponentiated).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from skdensity import GaussianKDE, GaussianMixtureGrad


@pytest.fixture(scope="module")
def kde():
    X = np.random.default_rng(0).normal(size=(300, 2))
    return GaussianKDE().fit(X)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[np.nan, 0.0]]), "NaN"),
        (np.array([[np.inf, 0.0]]), "infinity"),
        (np.zeros((1, 3)), "features"),
        (np.zeros((0, 2)), "0 sample"),
        (np.zeros(2), "2D array"),
    ],
)
@pytest.mark.parametrize("method", ["score_samples", "gradient", "hessian"])
def test_float64_arrays_are_still_checked(kde, bad, message, method):
    with pytest.raises(ValueError, match=message):
        getattr(kde, method)(bad)


def test_names_fitted_still_warn():
    X = pd.DataFrame(np.random.default_rng(1).normal(size=(50, 2)), columns=["a", "b"])
    kde = GaussianKDE().fit(X)
    with pytest.warns(UserWarning, match="feature names"):
        kde.gradient(np.zeros((1, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kde.gradient(X.iloc[:1])


def test_fast_path_matches_converted_inputs(kde):
    Q = np.random.default_rng(2).normal(size=(7, 2))
    fast = kde.gradient(Q, log=True)
    for other in (Q.tolist(), np.asfortranarray(Q)):
        np.testing.assert_array_equal(kde.gradient(other, log=True), fast)
    # And against scipy's density (an independent oracle).
    sp = stats.gaussian_kde(kde.X_fit_.T)
    np.testing.assert_allclose(kde.score_samples(Q), sp.logpdf(Q.T), rtol=1e-13)


@pytest.mark.parametrize("n", [40, 3000])
def test_one_query_equals_its_row_in_a_batch(n):
    X = np.random.default_rng(3).normal(size=(n, 3))
    Q = np.random.default_rng(4).normal(size=(37, 3)) * 2
    for est in (GaussianKDE().fit(X), GaussianMixtureGrad(3, random_state=0).fit(X)):
        batch = est.gradient_and_hessian(Q, log=True)
        for i in (0, 17, 36):
            one = est.gradient_and_hessian(Q[i : i + 1], log=True)
            # A call of fewer than ROW_ALIGN queries is not padded to full
            # BLAS tiles (16x less arithmetic for one query), so it agrees
            # with the batch to rounding of the natural scale; 16 queries
            # agree bit for bit (tests/test_parallel.py).
            for a, b in zip(one, batch, strict=True):
                tol = 1e-12 * np.abs(b[i]).max()
                np.testing.assert_allclose(a[0], b[i], rtol=0, atol=tol)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_mixture_kept_between_calls_follows_its_parameters(covariance_type):
    # The core mixture is kept between calls; editing a fitted attribute in
    # place (here every mean moved by 1) must be seen: translating the model
    # translates its log-gradient.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2))
    gm = GaussianMixtureGrad(3, covariance_type=covariance_type, random_state=0)
    gm.fit(X)
    Q = rng.normal(size=(5, 2))
    before = gm.gradient(Q, log=True)
    gm.means_ += 1.0
    np.testing.assert_allclose(gm.gradient(Q + 1.0, log=True), before, atol=1e-12)
    assert not np.allclose(gm.gradient(Q, log=True), before)
