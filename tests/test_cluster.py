"""ModeClustering: recovers separated clusters, labels by basin of attraction."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

import skdensity._modes._cluster as cluster_module
from skdensity import GaussianKDE, GaussianMixtureGrad, ModeClustering, find_modes

CENTRES = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0], [8.0, 8.0]])


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(800, centers=CENTRES, cluster_std=1.0, random_state=0)


@pytest.mark.parametrize("method", ["mean-shift", "newton"])
def test_make_blobs_recovered_and_labels_match_predict(blobs, method):
    X, y = blobs
    clustering = ModeClustering(method=method).fit(X)
    assert clustering.cluster_centers_.shape == (4, 2)
    assert adjusted_rand_score(y, clustering.labels_) > 0.99
    assert_array_equal(clustering.predict(X), clustering.labels_)
    assert_array_equal(clustering.fit_predict(X), clustering.labels_)
    # The centres are the KDE's modes (independent ascent at tight tolerance).
    modes = find_modes(clustering.density_, CENTRES, tol=1e-9).modes
    assert_allclose(clustering.cluster_centers_, modes, atol=1e-8)
    assert np.all(np.diff(clustering.cluster_log_density_) <= 0)
    assert np.all(clustering.cluster_hessian_eigenvalues_ < 0)
    assert isinstance(clustering.n_iter_, int) and clustering.n_iter_ >= 1


def test_mixture_density_clusters(blobs):
    X, y = blobs
    density = GaussianMixtureGrad(4, random_state=0)
    clustering = ModeClustering(density).fit(X)
    assert adjusted_rand_score(y, clustering.labels_) > 0.99
    assert not hasattr(density, "means_")  # a clone was fitted
    assert isinstance(clustering.density_, GaussianMixtureGrad)


def test_predict_labels_by_basin_not_nearest_centre():
    # A tall narrow bump at 0 and a broad one at 6: the basin boundary is the
    # antimode between them, much closer to 0 than the midpoint 3.
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 0.3, 300), rng.normal(6, 2.0, 300)])[:, None]
    clustering = ModeClustering(GaussianKDE(bandwidth=0.4)).fit(X)
    kde = clustering.density_
    centres = clustering.cluster_centers_[:, 0]
    low, high = np.sort(centres[np.abs(centres) < 0.5]), centres[centres > 4]
    assert low.size == 1 and high.size >= 1
    antimode = optimize.minimize_scalar(
        lambda x: kde.score_samples([[x]])[0], bounds=(0.2, 3.0), method="bounded"
    ).x
    assert antimode < 2.0
    queries = np.linspace(antimode + 0.05, 2.9, 20)[:, None]
    labels = clustering.predict(queries)
    nearest = np.argmin(np.abs(queries - centres), axis=1)
    low_label = np.flatnonzero(centres == low[0])[0]
    assert np.all(labels != low_label)  # uphill leads away from 0 ...
    assert np.any(nearest == low_label)  # ... though 0 is the nearest centre
    left = clustering.predict(np.linspace(-1.0, antimode - 0.05, 10)[:, None])
    assert_array_equal(left, low_label)


def test_min_cluster_size_merges_small_clusters_into_neighbour():
    X, y = make_blobs(400, centers=CENTRES[:2], cluster_std=1.0, random_state=1)
    # A far cluster of 3, nearer the blob at (8, 0): the path to that blob
    # stays higher than the path to the other.
    tiny = np.array([[10.0, 14.0], [10.1, 14.0], [10.0, 14.1]])
    X = np.vstack([X, tiny])
    kde = GaussianKDE(bandwidth=0.6)
    full = ModeClustering(kde, min_cluster_size=1).fit(X)
    sizes = np.bincount(full.labels_[full.labels_ >= 0])
    assert np.count_nonzero(sizes >= 5) == 2 and sizes[full.labels_[-1]] == 3
    assert full.n_merged_clusters_ == 0
    merged = ModeClustering(kde, min_cluster_size=5).fit(X)
    assert len(merged.cluster_centers_) == 2
    assert merged.n_merged_clusters_ == len(full.cluster_centers_) - 2
    right = np.argmax(merged.cluster_centers_[:, 0])
    assert_array_equal(merged.labels_[-3:], right)
    assert adjusted_rand_score(y, merged.labels_[:-3]) > 0.99
    assert_array_equal(merged.predict(X), merged.labels_)
    # The merged cluster keeps the larger one's mode.
    assert_allclose(merged.cluster_centers_, full.cluster_centers_[:2])


def test_max_iter_warns():
    X, _ = make_blobs(60, centers=CENTRES[:2], random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        clustering = ModeClustering(method="mean-shift", max_iter=1).fit(X)
    assert_array_equal(clustering.labels_, -1)
    assert clustering.cluster_centers_.shape == (0, 2)


def test_dataframe_input_keeps_feature_names(blobs):
    pd = pytest.importorskip("pandas")  # in the test extra; skip only without it
    X, _ = blobs
    frame = pd.DataFrame(X, columns=["a", "b"])
    clustering = ModeClustering().fit(frame)
    assert_array_equal(clustering.feature_names_in_, ["a", "b"])
    assert_array_equal(clustering.predict(frame), clustering.labels_)


def test_bad_density_and_features():
    X, _ = make_blobs(30, centers=CENTRES[:2], random_state=0)
    with pytest.raises(ValueError, match="implementing 'score_samples', 'gradient'"):
        ModeClustering(density=_NoDerivatives()).fit(X)
    clustering = ModeClustering().fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        clustering.predict(np.zeros((2, 3)))
    # A fit that fails (Scott's rule on one sample) leaves no fitted state.
    failed = ModeClustering()
    with pytest.raises(ValueError, match="1 sample"):
        failed.fit(X[:1])
    assert not [name for name in vars(failed) if name.endswith("_")]


class _NoDerivatives:
    def fit(self, X):
        return self

    def score_samples(self, X):
        return np.zeros(len(X))

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self


def test_modes_missed_by_the_seeds_are_found(blobs, monkeypatch):
    # Two seeds cannot reach four modes: the other points find the rest.
    monkeypatch.setattr(cluster_module, "_N_SEEDS", 2)
    X, y = blobs
    clustering = ModeClustering().fit(X)
    assert clustering.cluster_centers_.shape == (4, 2)
    assert adjusted_rand_score(y, clustering.labels_) > 0.99
    assert_array_equal(clustering.predict(X), clustering.labels_)
    reference = ModeClustering(tol=1e-6).fit(X)
    assert_allclose(clustering.cluster_centers_, reference.cluster_centers_, atol=1e-8)
