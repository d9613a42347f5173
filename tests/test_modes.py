"""find_modes against closed-form modes, scipy.optimize and finite differences."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import skdensity._modes._starts as starts_module
from skdensity import (
    BayesianGaussianMixtureGrad,
    GaussianKDE,
    GaussianMixtureGrad,
    ModeFindingResult,
    find_modes,
)

METHODS = ["mean-shift", "newton"]


class DoubleWell:
    """A user's density: log f = -(x1^2 - 1)^2 - x2^2 / 2 (unnormalised).

    Modes at (+-1, 0) with Hessian diag(-8, -1); a saddle at the origin with
    Hessian diag(4, -1). No fixed point and no default starts.
    """

    def score_samples(self, X):
        X = np.asarray(X, dtype=float)
        return -((X[:, 0] ** 2 - 1) ** 2) - 0.5 * X[:, 1] ** 2

    def gradient(self, X, log=False):
        assert log
        X = np.asarray(X, dtype=float)
        return np.column_stack([-4 * X[:, 0] * (X[:, 0] ** 2 - 1), -X[:, 1]])

    def hessian(self, X, log=False):
        assert log
        X = np.asarray(X, dtype=float)
        H = np.zeros((len(X), 2, 2))
        H[:, 0, 0] = 4 - 12 * X[:, 0] ** 2
        H[:, 1, 1] = -1.0
        return H


def _fd_gradient(score, x, h=1e-3):
    """Richardson-extrapolated central differences of ``score`` at one point."""
    d = x.size

    def central(step):
        E = np.eye(d) * step
        return (score(x + E) - score(x - E)) / (2 * step)

    return (4 * central(h / 2) - central(h)) / 3


def _fd_hessian(score, x, h=1e-3):
    """Central differences of the Richardson gradient: the Hessian at x."""
    E = np.eye(x.size) * h
    rows = [
        (_fd_gradient(score, x + e) - _fd_gradient(score, x - e)) / (2 * h) for e in E
    ]
    H = np.array(rows)
    return 0.5 * (H + H.T)


# ---------------------------------------------------------------------------
# Closed cases
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", [*METHODS, "auto"])
def test_three_separated_gaussians_give_their_centres(method):
    # Three unit kernels 10 apart: the modes are the centres up to exp(-50).
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    kde = GaussianKDE(bandwidth=1.0).fit(centres)
    X0 = centres + np.random.default_rng(0).normal(scale=0.7, size=(40, 3, 2))
    result = find_modes(kde, X0.reshape(-1, 2), method=method)
    assert isinstance(result, ModeFindingResult)
    assert result.modes.shape == (3, 2)
    order = np.lexsort(np.round(result.modes).T)
    assert_allclose(result.modes[order], centres[np.lexsort(centres.T)], atol=1e-8)
    assert_allclose(result.hessian_eigenvalues, -1.0, atol=1e-8)
    assert result.converged.all()
    # Each start reaches the centre it was drawn around.
    reached = result.modes[result.labels]
    assert_allclose(reached, np.repeat(centres[None], 40, 0).reshape(-1, 2), atol=1e-8)
    assert result.saddle_points.shape == (0, 2)


@pytest.mark.parametrize("method", METHODS)
def test_two_close_components_give_one_mode(method):
    # Equal unit Gaussians at +-0.9: unimodal (separation < 2 sigma), mode 0.
    kde = GaussianKDE(bandwidth=1.0).fit([[-0.9], [0.9]])
    result = find_modes(kde, np.linspace(-4, 4, 17)[:, None], method=method)
    assert_allclose(result.modes, [[0.0]], atol=1e-9)
    assert_array_equal(result.labels, 0)
    # Hess log f at 0: a^2 - 1 for kernels at +-a.
    assert_allclose(result.hessian_eigenvalues, [[0.9**2 - 1]], rtol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_bimodal_pair_matches_closed_form_and_saddle_is_not_a_mode(method):
    # Unit Gaussians at +-a, a > 1: modes at +-x with x = a tanh(a x), a
    # saddle (antimode) at 0.
    a = 1.5
    x_star = optimize.brentq(lambda x: x - a * np.tanh(a * x), 0.5, 3.0)
    kde = GaussianKDE(bandwidth=1.0).fit([[-a], [a]])
    result = find_modes(kde, [[0.0], [0.3], [-2.5], [4.0]], method=method)
    assert_allclose(np.sort(result.modes[:, 0]), [-x_star, x_star], atol=1e-9)
    assert_array_equal(result.labels[0], -1)
    assert_allclose(result.saddle_points, [[0.0]], atol=1e-12)
    assert result.saddle_hessian_eigenvalues[0, 0] > 0
    assert result.modes[result.labels[1], 0] > 0
    assert result.modes[result.labels[2], 0] < 0


@pytest.mark.parametrize("method", METHODS)
def test_user_density_modes_saddle_and_curvature(method):
    density = DoubleWell()
    X0 = [[0.0, 0.0], [0.2, 1.0], [-0.3, -2.0], [2.5, 0.5], [-1.7, 3.0]]
    result = find_modes(density, X0, method=method)
    assert_allclose(
        result.modes[np.argsort(result.modes[:, 0])], [[-1, 0], [1, 0]], atol=1e-8
    )
    assert_allclose(result.hessian_eigenvalues, [[-8, -1], [-8, -1]], atol=1e-6)
    assert_allclose(result.saddle_points, [[0.0, 0.0]], atol=1e-12)
    assert_allclose(result.saddle_hessian_eigenvalues, [[-1.0, 4.0]])
    assert result.labels[0] == -1
    signs = np.sign(result.modes[result.labels[1:], 0])
    assert_array_equal(signs, [1, -1, 1, -1])


class SoftPeak:
    """A user's density: log f = -sqrt(1 + |x|^2), concave, its mode at 0.

    From |x| > 1 a pure Newton step overshoots (x -> -x^3 in 1-D) and
    diverges.
    """

    def score_samples(self, X):
        return -np.sqrt(1 + np.sum(np.asarray(X) ** 2, axis=1))

    def gradient(self, X, log=False):
        X = np.asarray(X)
        return -X / np.sqrt(1 + np.sum(X**2, axis=1))[:, None]

    def hessian(self, X, log=False):
        X = np.asarray(X)
        r = 1 + np.sum(X**2, axis=1)[:, None, None]
        outer = X[:, :, None] * X[:, None, :]
        return -np.eye(X.shape[1]) / np.sqrt(r) + outer / r**1.5


def test_newton_never_lands_farther_than_it_started(monkeypatch):
    # Pure Newton from |x| > 1 diverges (x -> -x^3); the safeguards (midpoint
    # ascent, concavity and contraction where a step lands) keep every
    # iterate closer to the mode than the start.
    import skdensity._modes._ascent as ascent_module

    iterates = []
    original = ascent_module._iteration

    def spy(ascent, Xa, active, state, newton):
        step = original(ascent, Xa, active, state, newton)
        iterates.append((active.copy(), (Xa + step)[:, 0]))
        return step

    monkeypatch.setattr(ascent_module, "_iteration", spy)
    starts = np.array([1.2, 3.0, -0.4])
    result = find_modes(SoftPeak(), starts[:, None], method="newton")
    for active, x in iterates:
        assert np.all(np.abs(x) < np.abs(starts[active]))
    assert result.converged.all()
    assert_allclose(result.modes, [[0.0]], atol=1e-12)
    assert_array_equal(result.labels, 0)
    assert_allclose(result.hessian_eigenvalues, [[-1.0]])


# ---------------------------------------------------------------------------
# Gaussian mixtures: modes are not the means
# ---------------------------------------------------------------------------


def _overlapping_data(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 1.0]], 400),
            rng.multivariate_normal([2.5, 0.5], [[0.3, 0.0], [0.0, 1.5]], 300),
            rng.multivariate_normal([-1.0, 3.5], [[0.5, -0.2], [-0.2, 0.4]], 300),
        ]
    )


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("method", METHODS)
def test_mixture_modes_are_stationary_maxima_not_means(covariance_type, method):
    X = _overlapping_data()
    gmm = GaussianMixtureGrad(3, covariance_type=covariance_type, random_state=0)
    gmm.fit(X)
    result = find_modes(gmm, method=method)  # starts: the component means
    assert result.labels.shape == (3,)
    assert len(result.modes) >= 1
    for mode in result.modes:
        # Independent oracle: finite differences of score_samples.
        assert np.abs(_fd_gradient(gmm.score_samples, mode)).max() < 1e-6
        assert np.linalg.eigvalsh(_fd_hessian(gmm.score_samples, mode)).max() < 0
        # ... and scipy's optimiser, started at the mode, stays there.
        opt = optimize.minimize(
            lambda x: -gmm.score_samples(x[None])[0],
            mode,
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14},
        )
        assert_allclose(opt.x, mode, atol=1e-5)
    distances = np.linalg.norm(result.modes[:, None] - gmm.means_[None], axis=2)
    assert distances.min(axis=1).max() > 1e-3  # some mode is off its mean


@pytest.fixture(scope="module")
def bgmm():
    # A fit stopped early is still a valid variational mixture to climb.
    model = BayesianGaussianMixtureGrad(n_components=4, max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(_overlapping_data(1))


@pytest.mark.parametrize("method", METHODS)
def test_bayesian_mixture_modes_match_scipy_optimize(bgmm, method):
    result = find_modes(bgmm, method=method)
    assert len(result.modes) >= 1
    for mode in result.modes:
        opt = optimize.minimize(
            lambda x: -bgmm.score_samples(x[None])[0],
            mode + 0.05,
            method="BFGS",
            options={"gtol": 1e-9},
        )
        assert_allclose(opt.x, mode, atol=1e-4)
        assert np.abs(_fd_gradient(bgmm.score_samples, mode)).max() < 1e-6


# ---------------------------------------------------------------------------
# Methods agree; defaults; accuracy
# ---------------------------------------------------------------------------


def test_mean_shift_and_newton_reach_the_same_modes():
    X = _overlapping_data(2)[::4]
    kde = GaussianKDE().fit(X)
    results = [find_modes(kde, method=m) for m in METHODS]
    assert_allclose(results[0].modes, results[1].modes, atol=1e-8)
    assert np.mean(results[0].labels == results[1].labels) > 0.98
    assert results[1].n_iter.mean() < results[0].n_iter.mean()


def test_auto_method_depends_on_dimension_and_density():
    rng = np.random.default_rng(0)
    for d, expected in [(2, "newton"), (5, "newton"), (6, "mean-shift")]:
        kde = GaussianKDE(bandwidth=1.0).fit(rng.normal(size=(20, d)))
        assert find_modes(kde).method == expected
    # Without a fixed point the safeguarded gradient step is slow: Newton.
    assert find_modes(DoubleWell(), [[0.5, 0.5]]).method == "newton"


def test_default_starts_are_the_training_points_subsampled(monkeypatch):
    X = _overlapping_data()[:50]
    kde = GaussianKDE().fit(X)
    assert_allclose(find_modes(kde).end_points.shape, X.shape)
    monkeypatch.setattr(starts_module, "_MAX_DEFAULT_STARTS", 20)
    assert find_modes(kde, random_state=0).labels.shape == (20,)


def test_modes_sorted_by_density_and_far_start_climbs():
    X = _overlapping_data(3)[::5]
    kde = GaussianKDE(bandwidth=0.3).fit(X)
    far = np.array([[1e6, -1e6]])
    result = find_modes(kde, np.vstack([X, far]))
    assert np.all(np.diff(result.log_density) <= 0)
    assert_allclose(result.log_density, kde.score_samples(result.modes))
    assert result.converged[-1] and result.labels[-1] >= 0


def test_scale_and_merge_tol_are_honoured():
    kde = GaussianKDE(bandwidth=1.0).fit([[-1.5], [1.5]])
    # A merge tolerance wider than the two modes' distance merges them: the
    # merged point is classified as whichever mode represents the group.
    result = find_modes(kde, [[-2.0], [2.0]], merge_tol=10.0)
    assert len(result.modes) == 1
    for scale in [1.0, [1.0], [[1.0]]]:
        res = find_modes(kde, [[-2.0], [2.0]], scale=scale)
        assert_allclose(res.scale, [[1.0]])
        assert len(res.modes) == 2


def test_max_iter_warns_and_marks_starts():
    kde = GaussianKDE(bandwidth=0.5).fit(_overlapping_data()[::10])
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        result = find_modes(kde, method="mean-shift", max_iter=1)
    assert not result.converged.any()
    assert_array_equal(result.labels, -1)
    assert_array_equal(result.n_iter, 1)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    kde = GaussianKDE().fit(_overlapping_data()[:30])
    # find_modes and ModeClustering share scikit-learn's parameter checks.
    with pytest.raises(ValueError, match="'method' parameter of find_modes"):
        find_modes(kde, method="bfgs")
    for name, value in [("tol", 0.0), ("merge_tol", -1.0), ("max_iter", 0)]:
        with pytest.raises(ValueError, match=f"'{name}' parameter of find_modes"):
            find_modes(kde, **{name: value})
    with pytest.raises(ValueError, match="X0 has 3 features, but the density has 2"):
        find_modes(kde, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        find_modes(kde, [[np.nan, 0.0]])
    with pytest.raises(ValueError, match=re.escape("scale must be")):
        find_modes(kde, scale=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="implementing 'score_samples', 'gradient'"):
        find_modes(object.__new__(type("Dens", (), {"score_samples": len})))
    with pytest.raises(ValueError, match="pass X0"):
        find_modes(DoubleWell())
    with pytest.raises(NotFittedError):
        find_modes(GaussianKDE(), [[0.0]])
    with pytest.raises(ValueError, match="no negative curvature"):
        find_modes(_Convex(), [[0.0, 0.0]])


class _Convex(DoubleWell):
    """log f with positive curvature everywhere: no scale can be inferred."""

    def hessian(self, X, log=False):
        return np.broadcast_to(np.eye(2), (len(X), 2, 2)).copy()


@pytest.mark.parametrize("method", ["mean-shift", "newton"])
def test_collapsed_component_does_not_shrink_the_scale(method):
    # 40 identical rows make one component collapse to variance reg_covar;
    # the other two stay wide (standard deviation 10), so their curvature is
    # 1e-8 of the collapsed one's. Each component mean is (numerically) a
    # mode: the components are 30 standard deviations apart.
    rng = np.random.default_rng(0)
    X = np.vstack(
        [
            rng.normal(0, 10, (200, 2)),
            rng.normal(300, 10, (200, 2)),
            np.full((40, 2), [0.0, 300.0]),
        ]
    )
    gm = GaussianMixtureGrad(n_components=3, random_state=0).fit(X)
    assert np.sort(np.linalg.eigvalsh(gm.covariances_).min(axis=1))[0] < 1e-5
    result = find_modes(gm, X, method=method)
    assert len(result.saddle_points) == 0
    assert np.all(result.converged) and np.all(result.labels >= 0)
    assert len(result.modes) == 3
    # Each mode is a stationary point with a negative-definite Hessian, next
    # to a component mean.
    assert_allclose(gm.gradient(result.modes, log=True), 0, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(gm.hessian(result.modes, log=True)) < 0)
    dist = np.linalg.norm(result.modes[:, None] - gm.means_[None], axis=2).min(1)
    assert np.all(dist < 1e-2)
