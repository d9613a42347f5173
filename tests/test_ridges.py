"""find_ridges against independent oracles.

- A circle: the KDE of points spread evenly on a circle of radius R is, to
  exponentially small error, the uniform circle convolved with N(0, h^2 I),
  whose radial log-density -(r^2 + R^2)/(2 h^2) + log I0(r R / h^2) has its
  maximum at the root r* of r = R I1(z)/I0(z), z = r R / h^2 (scipy's
  i0e/i1e, brentq). Noisy points on a circle: the same with h^2 + sigma^2.
- Straight filaments and flat sheets: the KDE of a fine lattice on an affine
  subspace a + span(B) is, to exponentially small error, a Gaussian across
  it with log f = -(x - a)^T Q (x - a) / 2, Q B = 0, for any kernel
  covariance: the ridge is the subspace itself.
- Gaussian mixtures: the ridgeline of Ray and Lindsay (2005),
  x*(a) = [(1-a) S1^-1 + a S2^-1]^-1 [(1-a) S1^-1 mu1 + a S2^-1 mu2],
  computed here; and the ridge equation V^T grad log f = 0 evaluated from
  scipy.stats.multivariate_normal densities.
- R ks::kdr on Old Faithful (tests/data/ks_kdr_faithful.csv, written by
  tests/data/make_ks_kdr.R).
"""

import json
import pathlib
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import linalg, optimize, special
from scipy.stats import multivariate_normal
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning

from skdensity import GaussianKDE, GaussianMixtureGrad, RidgeResult, find_ridges

DATA = pathlib.Path(__file__).parent / "data"
METHODS = ["scms", "newton"]


# ---------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------


def bessel_ridge_radius(R, tau2):
    """Radius of the ridge of a uniform circle of radius R convolved with
    N(0, tau2 I): the root of -r + R I1(rR/tau2)/I0(rR/tau2)."""

    def slope(r):
        z = r * R / tau2
        return -r + R * special.i1e(z) / special.i0e(z)

    return optimize.brentq(slope, 0.5 * R, R, xtol=1e-15, rtol=1e-15)


def mixture_log_derivatives(X, weights, means, covariances):
    """grad and Hessian of log f for sum_k w_k N(mu_k, S_k), from scipy's
    multivariate normal densities (relative to the largest, to avoid
    underflow)."""
    log_phi = np.array(
        [
            np.log(w) + multivariate_normal(m, S).logpdf(X)
            for w, m, S in zip(weights, means, covariances, strict=True)
        ]
    ).reshape(len(weights), len(X))
    r = np.exp(log_phi - log_phi.max(axis=0))
    r /= r.sum(axis=0)
    grad = np.zeros_like(X)
    second = np.zeros((len(X), X.shape[1], X.shape[1]))
    for rk, m, S in zip(r, means, covariances, strict=True):
        P = np.linalg.inv(S)
        u = (m - X) @ P
        grad += rk[:, None] * u
        second += rk[:, None, None] * (u[:, :, None] * u[:, None, :] - P)
    return grad, second - grad[:, :, None] * grad[:, None, :]


def normal_newton_distance(grad, hess, ridge_dim):
    """Euclidean length of -V L^-1 V^T g, the Newton distance to the ridge
    within the normal space (V, L: normal eigenvectors and eigenvalues)."""
    lam, vec = np.linalg.eigh(hess)
    n_normal = grad.shape[1] - ridge_dim
    V = vec[:, :, :n_normal]
    coef = np.einsum("mdk,md->mk", V, grad) / lam[:, :n_normal]
    return np.linalg.norm(coef, axis=1)


def hand_built_mixture(weights, means, covariances, covariance_type="full"):
    """GaussianMixtureGrad with the given parameters (no fit)."""
    k, d = np.shape(means)
    gm = GaussianMixtureGrad(k, covariance_type=covariance_type)
    gm.weights_ = np.asarray(weights, dtype=float)
    gm.means_ = np.array(means, dtype=float)
    if covariance_type == "full":
        gm.covariances_ = np.array(covariances, dtype=float)
        gm.precisions_cholesky_ = np.array(
            [
                linalg.solve_triangular(
                    linalg.cholesky(S, lower=True), np.eye(d), lower=True
                ).T
                for S in gm.covariances_
            ]
        )
    else:  # spherical: covariances are the variances
        gm.covariances_ = np.array(covariances, dtype=float)
        gm.precisions_cholesky_ = 1.0 / np.sqrt(gm.covariances_)
    gm.n_features_in_ = d
    return gm


def ray_lindsay_ridgeline(alpha, means, covariances):
    """x*(a) for each a in alpha (Ray and Lindsay, 2005)."""
    P1, P2 = (np.linalg.inv(S) for S in covariances)
    return np.array(
        [
            np.linalg.solve(
                (1 - a) * P1 + a * P2, (1 - a) * P1 @ means[0] + a * P2 @ means[1]
            )
            for a in alpha
        ]
    )


# ---------------------------------------------------------------------------
# The circle: ridge radius from the Bessel-function equation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_even_circle_ridge_at_bessel_radius(method):
    # 200 points 0.031 apart, h = 0.1: the KDE's angular variation is of
    # order exp(-(2 pi h / spacing)^2 / 2) ~ 1e-88, so its ridge is the circle
    # r* to rounding.
    n, h = 200, 0.1
    t = 2 * np.pi * np.arange(n) / n
    circle = np.c_[np.cos(t), np.sin(t)]
    kde = GaussianKDE(bandwidth=h).fit(circle)
    rng = np.random.default_rng(0)
    X0 = circle * rng.uniform(0.8, 1.2, (n, 1)) + rng.normal(0, 0.02, (n, 2))
    result = find_ridges(kde, X0, method=method, tol=1e-9)
    r_star = bessel_ridge_radius(1.0, h**2)
    assert result.kept.all()
    radius = np.linalg.norm(result.points, axis=1)
    assert_allclose(radius, r_star, rtol=0, atol=1e-7)
    # The filament runs along the circle: across the radius.
    radial = result.points / radius[:, None]
    assert np.abs(np.einsum("nd,nd->n", result.directions[:, 0], radial)).max() < 1e-6
    assert (result.eigenvalue_gap > 0).all()


def test_noisy_circle_within_1e_2_of_bessel_radius():
    # 4000 points uniform on the unit circle plus N(0, 0.05^2) noise, h = 0.2:
    # the expected KDE is the circle convolved with N(0, (h^2 + 0.05^2) I),
    # whose ridge radius r* = 0.978 is 0.022 inside the circle. Over 20
    # seeds the ridge points' largest |r - r*| was 0.007 and the sd of
    # their mean radius 6e-4 (finite-sample noise), hence the tolerances.
    n, h, sigma = 4000, 0.2, 0.05
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, n)
    X = np.c_[np.cos(t), np.sin(t)] + rng.normal(0, sigma, (n, 2))
    result = find_ridges(GaussianKDE(bandwidth=h).fit(X), X[:400], hdr_prob=None)
    r_star = bessel_ridge_radius(1.0, h**2 + sigma**2)
    radius = np.linalg.norm(result.points, axis=1)
    assert result.kept.sum() >= 390
    assert np.abs(radius - r_star).max() < 1e-2
    assert abs(radius.mean() - r_star) < 3e-3
    assert 1 - radius.mean() > 0.015  # the bias is real, and is r*'s


# ---------------------------------------------------------------------------
# Straight filaments and flat sheets, any kernel covariance
# ---------------------------------------------------------------------------


def _subspace_lattice(B, a, spacing, half_width):
    """Points a + B t with t on a lattice of the given spacing and extent."""
    steps = np.arange(-half_width, half_width + spacing / 2, spacing)
    grid = np.stack(np.meshgrid(*[steps] * B.shape[1], indexing="ij"), axis=-1)
    return a + grid.reshape(-1, B.shape[1]) @ B.T


@pytest.mark.parametrize(
    "n_features, ridge_dim, method",
    [
        (2, 1, "scms"),
        (2, 1, "newton"),
        (3, 1, "scms"),
        (3, 2, "newton"),
        (4, 3, "scms"),
    ],
)
def test_flat_subspace_is_its_own_ridge(n_features, ridge_dim, method):
    # A full kernel covariance with eigenvalues in [0.5, 1.5]; lattice spacing
    # 0.4 (under 0.6 kernel sd) over +-6.4 sd beyond the starts: the lattice
    # sum equals the integral over the subspace to ~1e-9 of f.
    rng = np.random.default_rng(n_features * 10 + ridge_dim)
    d, k = n_features, ridge_dim
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    H = Q @ np.diag(np.linspace(0.5, 1.5, d)) @ Q.T
    B, _ = np.linalg.qr(rng.normal(size=(d, k)))
    a = rng.normal(size=d)
    lattice = _subspace_lattice(B, a, 0.4, 8.0 if k < 3 else 7.2)
    kde = GaussianKDE(bandwidth=H).fit(lattice)
    X0 = a + rng.uniform(-0.5, 0.5, (20, k)) @ B.T + rng.normal(0, 0.7, (20, d))
    result = find_ridges(kde, X0, ridge_dim=k, method=method, tol=1e-10, hdr_prob=None)
    assert result.kept.all()
    offset = result.points - a
    off_subspace = offset - offset @ B @ B.T
    assert np.linalg.norm(off_subspace, axis=1).max() < 1e-7
    # The tangent directions span the subspace.
    along = np.einsum("nkd,dj->nkj", result.directions, B)
    assert_allclose(np.linalg.svd(along, compute_uv=False), 1.0, atol=1e-7)


@pytest.mark.parametrize("method", METHODS)
def test_gaussian_ridge_is_its_principal_axis_which_plain_projection_misses(method):
    # A lattice on the x-axis weighted by N(t; 0, s^2), kernel covariance H:
    # to exponentially small error the KDE is N(0, C), C = H + s^2 e1 e1^T,
    # whose ridge is its principal axis (the top eigenvector of C), along
    # which log f falls. The step x <- x + V V^T (H grad log f) (Ozertem and
    # Erdogmus's, as R ks::kdr takes it, with a full H) stops where
    # V^T H grad log f = 0, off that axis; find_ridges' S^-1-orthogonal
    # projection of the mean shift lands on it.
    H = np.array([[1.0, 0.6], [0.6, 0.8]])
    s = 2.0
    t = np.arange(-8 * s, 8 * s + 0.05, 0.1)
    lattice = np.c_[t, np.zeros_like(t)]
    kde = GaussianKDE(bandwidth=H).fit(
        lattice, sample_weight=np.exp(-(t**2) / (2 * s**2))
    )
    C = H + np.diag([s**2, 0.0])
    axis = np.linalg.eigh(C)[1][:, -1]
    X0 = np.random.default_rng(0).normal(0, 1.5, (20, 2))
    result = find_ridges(kde, X0, method=method, tol=1e-12, hdr_prob=None)
    assert result.kept.all()
    off_axis = result.points - np.outer(result.points @ axis, axis)
    assert np.linalg.norm(off_axis, axis=1).max() < 1e-8
    assert_allclose(np.abs(result.directions[:, 0] @ axis), 1, atol=1e-10)
    x = X0.copy()
    for _ in range(300):
        grad, hess = kde.gradient_and_hessian(x, log=True)
        V = np.linalg.eigh(hess)[1][:, :, :1]
        x = x + np.einsum("mdk,mek,me->md", V, V, grad @ H)
    plain_off_axis = x - np.outer(x @ axis, axis)
    assert np.linalg.norm(plain_off_axis, axis=1).max() > 0.05


# ---------------------------------------------------------------------------
# Gaussian mixtures: the ridgeline of Ray and Lindsay
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", ["spherical", "full"])
def test_isotropic_mixture_ridge_is_the_ray_lindsay_ridgeline(covariance_type):
    # Isotropic components (of different sizes and weights): the ridgeline is
    # the segment between the means and the mixture is symmetric about the
    # line through them, so the ridge between the means is the ridgeline.
    means = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, -1.0]])
    variances = np.array([0.8, 1.5])
    covariances = [v * np.eye(3) for v in variances]
    gm = hand_built_mixture(
        [0.3, 0.7],
        means,
        variances if covariance_type == "spherical" else covariances,
        covariance_type,
    )
    rng = np.random.default_rng(0)
    starts = ray_lindsay_ridgeline(rng.uniform(0, 1, 30), means, covariances)
    X0 = starts + rng.normal(0, 0.3, starts.shape)
    result = find_ridges(gm, X0, tol=1e-10, hdr_prob=None)
    assert result.kept.all()
    # Nearest point of the ridgeline to each ridge point, by bounded search
    # over a in [0, 1].
    for x in result.points:
        best = optimize.minimize_scalar(
            lambda a, x=x: np.sum(
                (ray_lindsay_ridgeline([a], means, covariances)[0] - x) ** 2
            ),
            bounds=(0, 1),
            method="bounded",
            options={"xatol": 1e-12},
        )
        if 1e-6 < best.x < 1 - 1e-6:  # between the means
            assert np.sqrt(best.fun) < 1e-7


@pytest.mark.parametrize("method", METHODS)
def test_anisotropic_mixture_ridge_meets_the_ridge_equation_not_the_ridgeline(method):
    # With different full covariances the ridgeline (where the components'
    # gradients are opposed) bends away from the ridge (where the gradient
    # is a tangent eigenvector): both pass through the modes and the saddle,
    # and here lie up to ~0.4 (0.4 component sd) apart between them. The
    # ridge points satisfy the ridge equation evaluated from scipy's normal
    # densities.
    weights = [0.5, 0.5]
    means = np.array([[0.0, 0.0], [3.0, 1.0]])
    covariances = np.array([[[1.0, 0.6], [0.6, 1.0]], [[0.5, -0.2], [-0.2, 1.5]]])
    gm = hand_built_mixture(weights, means, covariances)
    alpha = np.linspace(0, 1, 20001)
    ridgeline = ray_lindsay_ridgeline(alpha, means, covariances)
    rng = np.random.default_rng(0)
    X0 = ridgeline[::500] + rng.normal(0, 0.1, (41, 2))
    result = find_ridges(gm, X0, method=method, tol=1e-10, hdr_prob=None)
    assert result.kept.all()
    grad, hess = mixture_log_derivatives(result.points, weights, means, covariances)
    assert normal_newton_distance(grad, hess, 1).max() < 1e-8
    gap = np.min(
        np.linalg.norm(result.points[:, None] - ridgeline[None], axis=2), axis=1
    )
    assert gap.max() > 0.2


# ---------------------------------------------------------------------------
# R ks::kdr
# ---------------------------------------------------------------------------


def test_agrees_with_ks_kdr_on_old_faithful():
    # ks::kdr iterates with the eigenvectors of the Hessian of f, skdensity of
    # log f: the two share their ridge points where both Hessians order
    # their eigenvectors alike (all but one of ks's 272 end points here),
    # but paths from one start differ, so each of ks's end points is
    # projected onto skdensity's ridge and the move measured. kdr's Hessian
    # is that of a kernel truncated at 3.7 bandwidths (0.25% off, the JSON's
    # hessian_error): its points are within 0.004 (1.3% of h) of the ridge,
    # median 5e-5. ks's own iteration on an untruncated Hessian grid (801^2)
    # is within 1.7e-5 (its grid's interpolation error).
    meta = json.loads((DATA / "ks_kdr_faithful.json").read_text())
    table = np.genfromtxt(DATA / "ks_kdr_faithful.csv", delimiter=",", names=True)
    X = np.c_[table["start_eruptions"], table["start_waiting"]]
    assert_array_equal(meta["H"], 0.09 * np.eye(2))
    kde = GaussianKDE(bandwidth=0.3).fit(X)
    for column, max_move, median_move in [("kdr", 5e-3, 1e-4), ("full", 3e-5, 3e-6)]:
        ks_points = np.c_[table[f"{column}_eruptions"], table[f"{column}_waiting"]]
        projected = find_ridges(kde, ks_points, tol=1e-12, hdr_prob=None)
        move = np.linalg.norm(projected.end_points - ks_points, axis=1)
        # Points of the ridge of f whose log f Hessian orders its normal and
        # tangent eigenvectors the other way round are on f's ridge only.
        v_log = np.linalg.eigh(kde.hessian(ks_points, log=True))[1][:, :, 0]
        v_f = np.linalg.eigh(kde.hessian(ks_points))[1][:, :, 0]
        shared = np.abs(np.einsum("nd,nd->n", v_log, v_f)) > 0.5
        assert shared.sum() >= 270
        assert projected.kept[shared].all()
        assert move[shared].max() < max_move
        assert np.median(move[shared]) < median_move


# ---------------------------------------------------------------------------
# Any density: KDEs with a full H, mixtures, a user's own density
# ---------------------------------------------------------------------------


def _spiral(n, noise, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.5, 4 * np.pi, n)
    return np.c_[t * np.cos(t), t * np.sin(t)] / 4 + rng.normal(0, noise, (n, 2))


@pytest.mark.parametrize("method", METHODS)
def test_kde_ridge_meets_the_ridge_equation_of_direct_sums(method):
    X = _spiral(300, 0.15, 0)
    kde = GaussianKDE().fit(X)  # Scott's rule: a full H
    H = kde.covariance_
    with warnings.catch_warnings():
        # Under "scms" one start, on a ridge barely concave across (normal
        # eigenvalue -0.02 in kernel units), crawls at rate 0.98 a step.
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = find_ridges(kde, method=method, tol=1e-10, random_state=0)
    assert len(result.points) > 200
    grad, hess = mixture_log_derivatives(
        result.points,
        np.full(len(X), 1 / len(X)),
        X,
        np.broadcast_to(H, (len(X), 2, 2)),
    )
    assert normal_newton_distance(grad, hess, 1).max() < 1e-8
    lam = np.linalg.eigvalsh(hess)
    assert_allclose(result.hessian_eigenvalues, lam, rtol=1e-8, atol=1e-10)
    assert (lam[:, 0] < 0).all()


class _MixtureDensity:
    """A user's density: a Gaussian mixture through scipy, no hook."""

    def __init__(self, weights, means, covariances):
        self.weights, self.means, self.covariances = weights, means, covariances

    def score_samples(self, X):
        X = np.atleast_2d(X)
        pdf = sum(
            w * multivariate_normal(m, S).pdf(X)
            for w, m, S in zip(self.weights, self.means, self.covariances, strict=True)
        )
        return np.log(np.reshape(pdf, len(X)))

    def gradient(self, X, log=True):
        return mixture_log_derivatives(
            np.atleast_2d(X), self.weights, self.means, self.covariances
        )[0]

    def hessian(self, X, log=True):
        return mixture_log_derivatives(
            np.atleast_2d(X), self.weights, self.means, self.covariances
        )[1]


def test_user_density_and_the_same_mixture_share_their_ridge():
    weights = [0.4, 0.35, 0.25]
    means = np.array([[0.0, 0.0], [3.0, 1.0], [5.0, -1.5]])
    covariances = np.array(
        [[[1.0, 0.5], [0.5, 1.0]], [[0.6, -0.2], [-0.2, 1.2]], [[0.8, 0.3], [0.3, 0.5]]]
    )
    gm = hand_built_mixture(weights, means, covariances)
    X0 = np.random.default_rng(0).normal(size=(150, 2)) * 1.5 + [2.5, 0]
    own = find_ridges(
        _MixtureDensity(weights, means, covariances),
        X0,
        tol=1e-10,
        hdr_prob=None,
        scale=gm.scale_covariance(),
    )
    ours = find_ridges(gm, X0, tol=1e-10, hdr_prob=None)
    assert own.kept.sum() > 60
    grad, hess = mixture_log_derivatives(own.points, weights, means, covariances)
    assert normal_newton_distance(grad, hess, 1).max() < 1e-8
    both = own.kept & ours.kept
    assert both.sum() >= 0.9 * own.kept.sum()
    # One step rule on one density, so each start ends at the same point.
    assert_allclose(own.end_points[both], ours.end_points[both], atol=1e-6)


def test_tied_mixture_takes_the_exact_mean_shift_step():
    # A tied mixture shares its covariance like a KDE: no line search, each
    # step raises log f, and the ridge is that of the KDE it equals.
    X = _spiral(120, 0.1, 1)
    H = np.array([[0.05, 0.01], [0.01, 0.04]])
    kde = GaussianKDE(bandwidth=H).fit(X)
    gm = GaussianMixtureGrad(len(X), covariance_type="tied")
    gm.weights_ = np.full(len(X), 1 / len(X))
    gm.means_ = X.copy()
    gm.covariances_ = H
    gm.precisions_cholesky_ = linalg.solve_triangular(
        linalg.cholesky(H, lower=True), np.eye(2), lower=True
    ).T
    gm.n_features_in_ = 2
    a = find_ridges(kde, X, tol=1e-9, hdr_prob=None)
    b = find_ridges(gm, X, tol=1e-9, hdr_prob=None)
    assert_allclose(a.end_points, b.end_points, atol=1e-9)
    assert_array_equal(a.n_iter, b.n_iter)


def test_fitted_mixture_starts_from_its_own_draws():
    X = _spiral(400, 0.1, 2)
    gm = GaussianMixtureGrad(8, random_state=0).fit(X)
    result = find_ridges(gm, random_state=0)
    assert result.end_points.shape == (1000, 2)
    assert result.kept.sum() > 500


# ---------------------------------------------------------------------------
# Filters, result, chunking, warnings, errors
# ---------------------------------------------------------------------------


def test_a_minimum_of_log_f_fails_the_eigenvalue_condition():
    # Four kernels on the unit circle (h = 0.5): at the centre grad log f
    # vanishes (so the stopping rule holds at once) but the Hessian is 4 I,
    # a minimum, not a ridge.
    kde = GaussianKDE(bandwidth=0.5).fit([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    X0 = [[0.0, 0.0], [0.9, 0.1], [0.1, -1.2]]
    default = find_ridges(kde, X0, tol=1e-10, hdr_prob=None)
    every = find_ridges(kde, X0, tol=1e-10, hdr_prob=None, max_normal_eigenvalue=None)
    assert every.converged.all() and every.kept.all()
    assert_array_equal(default.kept, [False, True, True])
    assert_allclose(every.hessian_eigenvalues[0], [4, 4])
    normal = every.hessian_eigenvalues[:, 0]
    sharp = find_ridges(
        kde, X0, tol=1e-10, hdr_prob=None, max_normal_eigenvalue=normal[1:].mean()
    )
    assert_array_equal(sharp.kept, normal < normal[1:].mean())
    assert sharp.kept.sum() == 1


def test_density_filter_uses_the_hdr_level():
    X = _spiral(300, 0.15, 3)
    kde = GaussianKDE().fit(X)
    X0 = X[:80]
    level = kde.density_level(0.5, random_state=0).log_level
    result = find_ridges(kde, X0, hdr_prob=0.5, random_state=0)
    loose = find_ridges(kde, X0, min_log_density=-np.inf)
    assert result.log_density_threshold == level
    assert loose.log_density_threshold == -np.inf
    assert_array_equal(result.end_points, loose.end_points)
    in_region = kde.score_samples(loose.end_points) >= level
    assert_array_equal(result.kept, loose.kept & in_region)
    assert (loose.kept & ~in_region).sum() >= 5


def test_result_fields_are_consistent():
    X = _spiral(200, 0.1, 4)
    result = find_ridges(GaussianKDE().fit(X), random_state=0)
    assert isinstance(result, RidgeResult)
    n, d = result.points.shape
    assert_array_equal(result.points, result.end_points[result.kept])
    assert_array_equal(result.start_index, np.flatnonzero(result.kept))
    assert result.directions.shape == (n, 1, d)
    assert_allclose(np.linalg.norm(result.directions, axis=2), 1.0)
    lam = result.hessian_eigenvalues
    assert_allclose(result.eigenvalue_gap, lam[:, 1] - lam[:, 0])
    assert result.converged[result.kept].all()
    assert result.n_iter.shape == result.converged.shape == (len(X),)
    assert result.method == "scms" and result.ridge_dim == 1


def test_chunks_do_not_change_the_result():
    X = _spiral(80, 0.1, 5)
    kde = GaussianKDE().fit(X)
    whole = find_ridges(kde, tol=1e-8, hdr_prob=None)
    with config_context(working_memory=0.02):  # ~ 20 rows a chunk
        chunked = find_ridges(kde, tol=1e-8, hdr_prob=None)
    # The density's own chunks change its sums' rounding, nothing more.
    assert_allclose(whole.end_points, chunked.end_points, rtol=0, atol=1e-9)
    assert np.abs(whole.n_iter - chunked.n_iter).max() <= 1


def test_max_iter_warns_and_drops_the_unconverged():
    X = _spiral(150, 0.3, 6)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        result = find_ridges(GaussianKDE().fit(X), max_iter=1, tol=1e-12, hdr_prob=None)
    assert not result.kept[~result.converged].any()
    assert (~result.converged).any()


def test_bad_ridge_dim_and_starts():
    X = _spiral(50, 0.1, 7)
    kde = GaussianKDE().fit(X)
    with pytest.raises(ValueError, match="find_modes"):
        find_ridges(kde, ridge_dim=0)
    with pytest.raises(ValueError, match="between 1 and n_features - 1 = 1"):
        find_ridges(kde, ridge_dim=2)
    with pytest.raises(ValueError, match="one feature"):
        find_ridges(GaussianKDE().fit(X[:, :1]))
    with pytest.raises(ValueError, match="X0 has 3 features"):
        find_ridges(kde, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="method"):
        find_ridges(kde, method="mean-shift")
    with pytest.raises(ValueError, match="hdr_prob"):
        find_ridges(kde, hdr_prob=1.0)
    with pytest.raises(ValueError, match="no sample method"):
        find_ridges(_MixtureDensity([1.0], np.zeros((1, 2)), np.eye(2)[None]))


class _BrokenDensity(_MixtureDensity):
    """A user's density whose ``bad`` method drops its last axis."""

    def __init__(self, bad):
        super().__init__([1.0], np.zeros((1, 2)), np.eye(2)[None])
        self.bad = bad

    def gradient(self, X, log=True):
        grad = super().gradient(X, log=log)
        return grad[:, 0] if self.bad == "gradient" else grad

    def hessian(self, X, log=True):
        hess = super().hessian(X, log=log)
        return hess[:, :, 0] if self.bad == "hessian" else hess


@pytest.mark.parametrize("scale", [None, 1.0])
@pytest.mark.parametrize("bad", ["gradient", "hessian"])
def test_user_density_with_wrong_shape_names_find_ridges(bad, scale):
    # Without scale the Hessian is first called to infer one; with it, in
    # the first step: both errors name the function the user called.
    X0 = np.array([[1.0, 2.0], [-3.0, 0.5], [0.2, 0.1]])
    message = rf"{bad}\(X, log=True\) has shape .* find_ridges needs shape"
    with pytest.raises(ValueError, match=message):
        find_ridges(_BrokenDensity(bad), X0, scale=scale)


def test_the_constrained_mean_shift_never_lowers_log_f():
    # Each step maximises, over the normal space, the quadratic minoriser of
    # log f that the mean shift maximises over all of space.
    X = _spiral(200, 0.2, 8)
    kde = GaussianKDE().fit(X)  # a full H
    X0 = np.r_[X[:40], np.random.default_rng(8).uniform(-4, 4, (20, 2))]
    log_f = [kde.score_samples(X0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for max_iter in range(1, 8):
            end = find_ridges(kde, X0, max_iter=max_iter, tol=1e-12, hdr_prob=None)
            log_f.append(kde.score_samples(end.end_points))
    rise = np.diff(log_f, axis=0)
    assert (rise >= -1e-12 * np.abs(log_f[0])).all()
    assert (rise[0] > 0).mean() > 0.9


def test_verbose_shows_progress(capsys):
    X = _spiral(60, 0.1, 9)
    find_ridges(GaussianKDE().fit(X), hdr_prob=None, verbose=True)
    assert "ridge points" in capsys.readouterr().err
