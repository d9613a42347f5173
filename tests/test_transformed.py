"""TransformedDensity: fit in a transformed space, answer in the original units.

Oracles: the explicit Gaussian mixture in the original units (scipy's
multivariate_normal, with the kernel covariance carried back through the
transformer's own fitted attributes), Richardson differences of that
mixture's log-density, and the density fitted directly to the transformed
data plus log|det A|.
"""

import numpy as np
import pytest
from _oracles import richardson_gradient, richardson_hessian
from numpy.testing import assert_allclose
from scipy import stats
from scipy.optimize import minimize
from sklearn.decomposition import PCA
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdensity import (
    GaussianKDE,
    GaussianMixtureGrad,
    ModeClustering,
    TransformedDensity,
    find_modes,
)
from skdensity.datasets import load_faithful

H = 0.3  # kernel standard deviation in the transformed space


@pytest.fixture(scope="module")
def faithful():
    return load_faithful()[0]


def _scaler_map(scaler):
    return np.diag(1 / scaler.scale_)


def _pca_map(pca):
    return pca.components_ / np.sqrt(pca.explained_variance_)[:, None]


def _oracle_log_density(X, A, Q):
    """log of mean_i N(q; x_i, H^2 A^-1 A^-T): the KDE carried back."""
    inv = np.linalg.inv(A)
    cov = H**2 * inv @ inv.T
    terms = [stats.multivariate_normal(x, cov).logpdf(Q) for x in X]
    return np.logaddexp.reduce(terms, axis=0) - np.log(len(X))


@pytest.mark.parametrize(
    "transformer, linear_map",
    [(StandardScaler(), _scaler_map), (PCA(whiten=True), _pca_map)],
    ids=["StandardScaler", "PCA-whiten"],
)
def test_density_and_derivatives_in_original_units(faithful, transformer, linear_map):
    X = faithful[::4]
    td = TransformedDensity(GaussianKDE(bandwidth=H), transformer).fit(X)
    A = linear_map(td.transformer_)
    assert_allclose(np.abs(td.linear_map_), np.abs(A), rtol=1e-9)
    Q = np.array([[2.0, 55.0], [3.5, 70.0], [4.4, 80.0]])
    oracle = _oracle_log_density(X, A, Q)
    assert_allclose(td.score_samples(Q), oracle, rtol=1e-12)

    def log_f(Z):
        return _oracle_log_density(X, A, Z)

    steps = 0.1 * H / np.sqrt(np.sum(A**2, axis=0))
    grad = richardson_gradient(log_f, Q, steps)
    assert_allclose(td.gradient(Q, log=True), grad, rtol=1e-7, atol=1e-9)
    hess = richardson_hessian(log_f, Q, steps)
    assert_allclose(td.hessian(Q, log=True), hess, rtol=1e-6, atol=1e-7)
    f = np.exp(oracle)
    assert_allclose(td.gradient(Q), f[:, None] * grad, rtol=1e-7, atol=1e-12)


def test_same_as_fitting_on_transformed_data(faithful):
    scaler = StandardScaler().fit(faithful)
    Z = scaler.transform(faithful)
    direct = GaussianMixtureGrad(3, random_state=0).fit(Z)
    td = TransformedDensity(GaussianMixtureGrad(3, random_state=0)).fit(faithful)
    A = _scaler_map(scaler)
    Q = faithful[:5]
    QZ = scaler.transform(Q)
    log_det = np.log(np.prod(1 / scaler.scale_))
    assert_allclose(td.score_samples(Q), direct.score_samples(QZ) + log_det)
    assert_allclose(td.gradient(Q, log=True), direct.gradient(QZ, log=True) @ A)
    assert_allclose(
        td.hessian(Q, log=True), A.T @ direct.hessian(QZ, log=True) @ A, rtol=1e-12
    )
    assert_allclose(td.means_, scaler.inverse_transform(direct.means_))
    Xs, labels = td.sample(5, random_state=1)
    Zs, labels_direct = direct.sample(5, random_state=1)
    assert_allclose(Xs, scaler.inverse_transform(Zs))
    assert np.array_equal(labels, labels_direct)


def test_modes_clustering_and_objective_in_original_units(faithful):
    td = TransformedDensity(GaussianKDE(bandwidth=H)).fit(faithful)
    A = td.linear_map_
    modes = find_modes(td).modes
    # Every mode is a critical point of the carried-back mixture (scipy).
    grad = richardson_gradient(
        lambda Z: _oracle_log_density(faithful, A, Z), modes,
        0.1 * H / np.sqrt(np.sum(A**2, axis=0)),
    )  # fmt: skip
    assert np.all(np.abs(grad) / np.sqrt(np.sum(A**2, axis=0)) < 1e-6)
    clustering = ModeClustering(TransformedDensity(GaussianKDE(bandwidth=H)))
    clustering.fit(faithful)
    assert_allclose(
        clustering.cluster_centers_, modes[: len(clustering.cluster_centers_)]
    )
    fun, jac, hess = td.objective()
    res = minimize(
        fun, [4.0, 75.0], jac=jac, hess=hess, method="trust-exact",
        options={"gtol": 1e-12},
    )  # fmt: skip
    kernel_std = np.sqrt(np.diag(td.scale_covariance()))
    assert np.all(np.abs(res.x - modes[0]) < 1e-6 * kernel_std)


def test_sample_moments(faithful):
    td = TransformedDensity(GaussianKDE(bandwidth=H)).fit(faithful)
    drawn = td.sample(20_000, random_state=0)
    inv = np.linalg.inv(td.linear_map_)
    cov = np.cov(faithful.T, bias=True) + H**2 * inv @ inv.T
    assert_allclose(drawn.mean(axis=0), faithful.mean(axis=0), rtol=0.01)
    assert_allclose(np.cov(drawn.T), cov, rtol=0.05, atol=0.05 * np.abs(cov).max())


@pytest.mark.parametrize(
    "transformer, message",
    [
        (QuantileTransformer(n_quantiles=50), "is not affine"),
        (PCA(n_components=1), "maps 2 features to 1"),
    ],
)
def test_transformers_that_cannot_be_carried_back(faithful, transformer, message):
    td = TransformedDensity(transformer=transformer)
    with pytest.raises(ValueError, match=message):
        td.fit(faithful)
    assert not hasattr(td, "density_")


@parametrize_with_checks([TransformedDensity(GaussianKDE(bandwidth=0.7))])
def test_sklearn_compatible(estimator, check):
    check(estimator)
