"""Bandwidth selectors against R ks 1.14 and their criteria against direct sums.

The reference matrices come from tests/data/make_ks_bandwidths.R (ks with
``binned = FALSE``); the suite reads the stored JSON and never needs R.
"""

import json
from pathlib import Path

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from sklearn import config_context

from skdensity import GaussianKDE
from skdensity._functionals import (
    BINNED_GRIDSIZE,
    laplacian_sum,
    linear_binning,
    normal_derivative_tensor,
    psi_isotropic,
    psi_isotropic_binned,
    quadratic_form_moment,
    trace_pairs,
)
from skdensity._selectors import (
    _pre_transform,
    lscv_criterion,
    plugin_criterion,
    scv_criterion,
)
from skdensity.bandwidth import (
    lscv_bandwidth,
    normal_scale_bandwidth,
    plugin_bandwidth,
    scv_bandwidth,
)

DATA = Path(__file__).parent / "data"
PACKAGE_DATA = Path(__file__).parents[1] / "skdensity" / "data"
REFERENCE = json.loads((DATA / "ks_bandwidths.json").read_text())
SELECTORS = {
    "normal_scale": normal_scale_bandwidth,
    "plugin": plugin_bandwidth,
    "scv": scv_bandwidth,
}


def _load(name):
    faithful = np.loadtxt(PACKAGE_DATA / "faithful.csv", delimiter=",", skiprows=1)
    correlated = np.loadtxt(DATA / "correlated3d.csv", delimiter=",", skiprows=1)
    return {
        "faithful": faithful,
        "faithful_eruptions": faithful[:, :1],
        "faithful_waiting": faithful[:, 1:],
        "correlated3d": correlated,
    }[name]


def _records():
    for rec in REFERENCE["records"]:
        if "H" in rec and not rec["selector"].endswith("_1d"):
            tag = "{data}-{selector}-r{deriv_order}-diag{diagonal}".format(**rec)
            yield pytest.param(rec, id=tag)


def _select(rec, X):
    if rec["selector"] == "lscv":
        with (
            pytest.warns(UserWarning, match="duplicated")
            if _duplicated(X)
            else (_no_op())
        ):
            return lscv_bandwidth(X, diagonal=rec["diagonal"])
    kwargs = {"deriv_order": rec["deriv_order"]}
    if rec["selector"] != "normal_scale":
        kwargs["diagonal"] = rec["diagonal"]
    return SELECTORS[rec["selector"]](X, **kwargs)


class _no_op:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def _duplicated(X):
    return len(np.unique(X, axis=0)) < len(X)


def test_reference_is_ks_1_14():
    assert REFERENCE["ks_version"].startswith("1.14")


@pytest.mark.parametrize("rec", list(_records()))
def test_matches_ks(rec):
    X = _load(rec["data"])
    expected = np.array(rec["H"], ndmin=2)
    H = _select(rec, X)
    assert H.shape == expected.shape
    error = np.linalg.norm(H - expected) / np.linalg.norm(expected)
    if rec["selector"] == "normal_scale":
        assert error < 1e-10
    elif rec["data"] == "correlated3d" and rec["selector"] == "lscv":
        # ks's Nelder-Mead stops before the minimum here (its criterion is
        # 0.17% higher); ours must be at least as low.
        assert lscv_criterion(H, X) <= lscv_criterion(expected, X)
        assert error < 0.3
    else:
        assert error < 1e-2


# ---------------------------------------------------------------------------
# One feature: ks's scalar selectors hpi, hscv, hlscv
# ---------------------------------------------------------------------------

#: Relative tolerance on h^2 for each stored 1-D record of ks, by its R call
#: (None: ks's default arguments), with the agreement measured on Old
#: Faithful (eruptions, waiting).
KS_1D_RTOL = {
    # Exact or converged: the same algorithm.
    # dpik on a 2e5-point grid with every sample binned (binning error 1e-9):
    # 4.3e-10, 4.0e-10.
    ("hpi_1d", "KernSmooth::dpik(x, gridsize = 2e5, truncate = FALSE)"): 1e-8,
    # Closed forms with exact sums: 2.7e-16, 5.2e-16; 3.1e-15, 1.7e-15.
    ("hpi_1d", "hpi(x, binned = FALSE, deriv.order = 1)"): 1e-12,
    ("hpi_1d", "hpi(x, binned = FALSE, deriv.order = 2)"): 1e-12,
    # Brent on the same interval, both run to ~sqrt(eps): 2.2e-9, 2.0e-7.
    ("hscv_1d", "hscv(x, binned = FALSE) with optimise(tol = 1e-12)"): 1e-6,
    # ... and 1.0e-7, 8.9e-8.
    ("hlscv_1d", "hlscv(x, binned = FALSE, bw.ucv = FALSE)"): 1e-6,
    # ks's own stopping: R optimise's absolute tolerance 1.2e-4 on h (ours
    # runs further): 1.43e-5, 1.47e-5.
    ("hscv_1d", "hscv(x, binned = FALSE)"): 1e-4,
    # ks's hpi as called: dpik drops the sample at the maximum (see
    # test_ks_hpi_drops_the_maximum): 9.4e-3, 6.0e-3.
    ("hpi_1d", "hpi(x, bgridsize = 2e5)"): 1e-2,
    # ks's defaults, binned: hpi on 401 points (the maximum dropped for
    # eruptions, kept for waiting): 9.3e-3, 9.2e-5; hscv: 2.6e-3, 1.3e-3.
    ("hpi_1d", None): 1e-2,
    ("hscv_1d", None): 1e-2,
    # hlscv's default is stats::bw.ucv: an approximation of the criterion
    # (pair distances binned and rounded down, the leave-one-out term over
    # n^2 instead of n(n-1)), searched up to 1.144 sd n^(-1/5): 1.1e-2,
    # 1.9e-2.
    ("hlscv_1d", None): 2.5e-2,
    # The closed form: 3.2e-15.
    ("hns_1d", None): 1e-10,
}


def _records_1d():
    for rec in REFERENCE["records"]:
        if rec["selector"].endswith("_1d"):
            call = rec.get("call")
            tag = "{data}-{selector}-r{deriv_order}".format(**rec)
            yield pytest.param(rec, id=f"{tag}-{call or 'default'}")


def _select_1d(rec, X):
    selector, r = rec["selector"], rec["deriv_order"]
    if selector == "hlscv_1d":
        assert _duplicated(X)  # ks warns too
        with pytest.warns(UserWarning, match="duplicated"):
            return lscv_bandwidth(X)
    select = {"hpi_1d": plugin_bandwidth, "hscv_1d": scv_bandwidth}
    return select.get(selector, normal_scale_bandwidth)(X, deriv_order=r)


def test_every_1d_record_has_a_tolerance():
    keys = {(rec["selector"], rec.get("call")) for rec in REFERENCE["records"]}
    assert {key for key in keys if key[0].endswith("_1d")} == set(KS_1D_RTOL)


@pytest.mark.parametrize("rec", list(_records_1d()))
def test_one_feature_matches_ks_1d_selectors(rec):
    X = _load(rec["data"])
    H = _select_1d(rec, X)
    expected = rec["H"][0][0]
    assert H.shape == (1, 1)
    rtol = KS_1D_RTOL[rec["selector"], rec.get("call")]
    assert abs(H[0, 0] - expected) <= rtol * expected


@pytest.mark.parametrize("data", ["faithful_eruptions", "faithful_waiting"])
def test_ks_hpi_drops_the_maximum(data):
    # ks's hpi (r = 0) is KernSmooth's dpik, whose linear binning
    # (truncate = TRUE, the grid ending at max(x)) drops the samples that
    # rounding puts past the last grid point, here the maximum: its psi_6
    # and psi_4 are sums over the other n' samples divided by n'^2, while
    # the pilots and the bandwidth keep n. Written out here from the
    # closed form (Wand & Jones 1995, section 3.6.1) with that sum, this
    # gives ks's value on the fine grid (measured 4.3e-10, 4.0e-10); so the
    # gap of test_one_feature_matches_ks_1d_selectors is that sample.
    x = _load(data)[:, 0]
    n = len(x)
    q1, q3 = np.percentile(x, [25, 75])
    s = min(np.std(x, ddof=1), (q3 - q1) / 1.349)
    z = (x - x.mean()) / s
    kept = z[x < x.max()][:, None]

    def psi(g, order):  # bkfe divides by the count it binned
        return psi_isotropic(kept, g, order)[1][0]

    # g_6 from the normal psi_8 = 105 / (32 sqrt(pi)), then g_4 from psi_6.
    g6 = (2 * 15 / np.sqrt(2 * np.pi) / (105 / (32 * np.sqrt(np.pi)) * n)) ** (1 / 9)
    g4 = (-2 * 3 / np.sqrt(2 * np.pi) / (psi(g6, 6) * n)) ** (1 / 7)
    h = s * (1 / (2 * np.sqrt(np.pi) * psi(g4, 4) * n)) ** (1 / 5)
    (rec,) = [
        rec
        for rec in REFERENCE["records"]
        if rec["data"] == data and rec.get("call") == "hpi(x, bgridsize = 2e5)"
    ]
    assert_allclose(h**2, rec["H"][0][0], rtol=1e-8)


@pytest.mark.filterwarnings("ignore:X contains duplicated rows")
@pytest.mark.parametrize(
    "select",
    [
        plugin_bandwidth,
        lambda X: plugin_bandwidth(X, deriv_order=2),
        scv_bandwidth,
        lambda X: scv_bandwidth(X, deriv_order=1),
        lscv_bandwidth,
    ],
)
def test_one_feature_selectors_are_equivariant(select):
    # h scales with the data and ignores their location (the selectors
    # work on standardised data), also far from the origin.
    x = _load("faithful_eruptions")
    H = select(x)
    for a, b in [(1e-3, 0.0), (-7.0, 1e6), (1e4, -3e9)]:
        assert_allclose(select(a * x + b), a**2 * H, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:X contains duplicated rows")
def test_one_feature_ignores_diagonal():
    x = _load("faithful_waiting")
    for select in (plugin_bandwidth, scv_bandwidth, lscv_bandwidth):
        assert select(x, diagonal=True) == select(x)


def test_one_feature_plugin_needs_a_spread_quartile_range():
    # dpik's scale min(sd, IQR / 1.349) is zero when the middle half of
    # the samples tie.
    x = np.r_[np.zeros(80), np.linspace(1, 2, 20)][:, None]
    with pytest.raises(ValueError, match="interquartile range of X is zero"):
        plugin_bandwidth(x)
    assert plugin_bandwidth(x, deriv_order=1)[0, 0] > 0  # sd scale


def test_one_feature_binned_plugin_bins_401_points():
    assert BINNED_GRIDSIZE[1] == 401  # ks's and dpik's default
    x = _load("faithful_waiting")
    for r in (0, 1, 2):
        exact, binned = (
            plugin_bandwidth(x, deriv_order=r),
            plugin_bandwidth(x, deriv_order=r, binned=True),
        )
        assert_allclose(binned, exact, rtol=1e-3)


def test_kde_one_feature_plugin_is_ks_dpik():
    from skdensity import GaussianKDE

    (rec,) = [
        rec
        for rec in REFERENCE["records"]
        if rec["data"] == "faithful_waiting"
        and rec.get("call", "").startswith("KernSmooth::dpik")
    ]
    kde = GaussianKDE("plugin").fit(_load("faithful_waiting"))
    assert_allclose(kde.covariance_, rec["H"], rtol=1e-8)


# ---------------------------------------------------------------------------
# Criteria against direct sums
# ---------------------------------------------------------------------------


def _small(n=12, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ np.array([[1.0, 0.4], [0.0, 0.7]])[:d, :d]


def _mp_gaussian(sigma):
    prec = mpmath.matrix(np.linalg.inv(sigma).tolist())
    norm = 1 / mpmath.sqrt((2 * mpmath.pi) ** len(sigma) * np.linalg.det(sigma))

    def pdf(*x):
        v = mpmath.matrix(list(x))
        return norm * mpmath.exp(-(v.T * prec * v)[0] / 2)

    return pdf


def _mp_gaussian_exact(sigma):
    """Gaussian density with covariance given by mpmath numbers (differentiable)."""
    sigma = mpmath.matrix(sigma)
    prec = sigma**-1
    norm = 1 / mpmath.sqrt((2 * mpmath.pi) ** sigma.rows * mpmath.det(sigma))

    def pdf(*x):
        v = mpmath.matrix(list(x))
        return norm * mpmath.exp(-(v.T * prec * v)[0] / 2)

    return pdf


def _direct_laplacian(X, sigma, s, include_diagonal=True):
    pdf = _mp_gaussian(sigma)
    orders = {0: [((0, 0), 1)], 1: [((2, 0), 1), ((0, 2), 1)]}
    orders[2] = [((4, 0), 1), ((2, 2), 2), ((0, 4), 1)]
    total = mpmath.mpf(0)
    n = len(X)
    for i in range(n):
        for j in range(n):
            if i == j and not include_diagonal:
                continue
            x = [mpmath.mpf(v) for v in X[i] - X[j]]
            for order, coef in orders[s]:
                total += coef * mpmath.diff(pdf, x, order)
    return float(total / (n * n if include_diagonal else n * (n - 1)))


@pytest.mark.parametrize("s", [0, 1, 2])
@pytest.mark.parametrize("include_diagonal", [True, False])
def test_laplacian_sum_matches_mpmath_derivatives(s, include_diagonal):
    X = _small(n=8)
    sigma = np.array([[0.5, 0.2], [0.2, 0.3]])
    mpmath.mp.dps = 30
    expected = _direct_laplacian(X, sigma, s, include_diagonal)
    with config_context(working_memory=1e-4):  # many small row blocks
        got = laplacian_sum(X, sigma, s, include_diagonal)
    assert_allclose(got, expected, rtol=1e-11)


@pytest.mark.parametrize("s", [0, 1, 2])
@pytest.mark.parametrize("working_memory", [1e-4, 1024])  # blocked, cached
def test_laplacian_sum_gradient_matches_mpmath(s, working_memory):
    X = _small(n=5)
    a, b, c = 0.5, 0.2, 0.3
    mpmath.mp.dps = 30

    def direct(a, b, c):
        pdf = _mp_gaussian_exact([[a, b], [b, c]])
        orders = {0: [((0, 0), 1)], 1: [((2, 0), 1), ((0, 2), 1)]}
        orders[2] = [((4, 0), 1), ((2, 2), 2), ((0, 4), 1)]
        return (
            sum(
                coef * mpmath.diff(pdf, [mpmath.mpf(v) for v in xi - xj], order)
                for xi in X
                for xj in X
                for order, coef in orders[s]
            )
            / len(X) ** 2
        )

    with config_context(working_memory=working_memory):
        _, grad = laplacian_sum(X, np.array([[a, b], [b, c]]), s, gradient=True)
    # d value = tr(G d sigma): b sits in both off-diagonal entries.
    expected = [
        mpmath.diff(lambda t: direct(t, b, c), a),
        mpmath.diff(lambda t: direct(a, t, c), b) / 2,
        mpmath.diff(lambda t: direct(a, b, t), c),
    ]
    got = [grad[0, 0], grad[0, 1], grad[1, 1]]
    assert_allclose(got, [float(e) for e in expected], rtol=1e-10)
    assert_allclose(grad, grad.T, rtol=0, atol=0)


def _richardson_gradient(f, H, h=1e-3):
    """Central differences in each entry of symmetric H, Richardson-extrapolated
    twice (error O(h^6)); off-diagonal entries move in both places."""
    d = len(H)
    grad = np.zeros((d, d))
    for i in range(d):
        for j in range(i, d):
            E = np.zeros((d, d))
            E[i, j] = E[j, i] = 1.0

            def central(step, E=E):
                return (f(H + step * E) - f(H - step * E)) / (2 * step)

            d1, d2, d3 = central(h), central(h / 2), central(h / 4)
            r1, r2 = (4 * d2 - d1) / 3, (4 * d3 - d2) / 3
            grad[i, j] = grad[j, i] = (16 * r2 - r1) / 15 / (1 if i == j else 2)
    return grad


@pytest.mark.parametrize("r", [0, 1, 2])
def test_criteria_gradients_match_richardson_differences(r):
    X = _small(n=40)
    H = np.array([[0.3, 0.1], [0.1, 0.2]])
    G = 0.4 * np.eye(2)
    psi4 = trace_pairs(normal_derivative_tensor(2 * r + 4, np.eye(2)), r)
    criteria = {
        "scv": lambda H, **kw: scv_criterion(H, X, G, r, **kw),
        "plugin": lambda H, **kw: plugin_criterion(H, psi4, len(X), r, **kw),
        "lscv": lambda H, **kw: lscv_criterion(H, X, **kw),
    }
    for name, criterion in criteria.items():
        value, grad = criterion(H, gradient=True)
        assert value == criterion(H), name
        expected = _richardson_gradient(criterion, H)
        assert_allclose(grad, expected, rtol=1e-7, atol=1e-9 * abs(value), err_msg=name)


def test_psi_isotropic_matches_mpmath_derivatives():
    X = _small(n=7)
    g = 0.8
    counts, psi = psi_isotropic(X, g, 4)
    pdf = _mp_gaussian(g**2 * np.eye(2))
    mpmath.mp.dps = 30
    for alpha, value in zip(counts, psi, strict=True):
        total = sum(
            mpmath.diff(pdf, [mpmath.mpf(v) for v in a - b], tuple(alpha))
            for a in X
            for b in X
        )
        assert_allclose(value, float(total) / len(X) ** 2, rtol=1e-11)


def test_normal_derivative_tensor_matches_mpmath():
    sigma = np.array([[0.7, -0.2], [-0.2, 0.4]])
    tensor = normal_derivative_tensor(4, sigma)
    pdf = _mp_gaussian(sigma)
    mpmath.mp.dps = 30
    for index in [(0, 0, 0, 0), (0, 0, 1, 1), (0, 1, 1, 1), (1, 1, 1, 1)]:
        counts = tuple(np.bincount(index, minlength=2))
        expected = float(mpmath.diff(pdf, [0, 0], counts))
        for perm in {index, index[::-1], (index[1], index[0], *index[2:])}:
            assert_allclose(tensor[perm], expected, rtol=1e-11)


def test_quadratic_form_moments_closed_forms():
    A = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, -0.4], [0.0, -0.4, 0.5]])
    tr, tr2 = np.trace(A), np.trace(A @ A)
    assert quadratic_form_moment(0, A) == 1.0
    assert_allclose(quadratic_form_moment(1, A), tr, rtol=1e-14)
    assert_allclose(quadratic_form_moment(2, A), tr**2 + 2 * tr2, rtol=1e-14)
    tr3 = np.trace(A @ A @ A)
    assert_allclose(
        quadratic_form_moment(3, A), tr**3 + 6 * tr * tr2 + 8 * tr3, rtol=1e-14
    )


def test_lscv_criterion_matches_scipy_double_sum():
    X = _small(n=20)
    H = np.array([[0.3, 0.1], [0.1, 0.2]])
    diff = (X[:, None, :] - X[None, :, :]).reshape(-1, 2)
    pair = stats.multivariate_normal(np.zeros(2), 2 * H).pdf(diff).sum() / 400
    off = stats.multivariate_normal(np.zeros(2), H).pdf(diff).reshape(20, 20)
    loo = (off.sum() - np.trace(off)) / (20 * 19)
    assert_allclose(lscv_criterion(H, X), pair - 2 * loo, rtol=1e-12)


# ---------------------------------------------------------------------------
# Binned functionals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3])
def test_linear_binning_keeps_mass_and_mean(d):
    X = np.random.default_rng(d).standard_t(4, size=(500, d))
    counts, delta = linear_binning(X, 21)
    axes = [X.min(axis=0)[a] + delta[a] * np.arange(21) for a in range(d)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    assert_allclose(counts.sum(), 500, rtol=1e-13)
    # Linear binning moves each point's mass to its cell's corners without
    # moving its centre of mass.
    assert_allclose(np.tensordot(counts, grid, axes=d), X.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize(
    "d, pilots, rtol",
    [(1, [(0.3, 4), (0.5, 6)], 2e-3), (2, [(0.3, 4), (0.5, 6)], 3e-2)]
    + [(3, [(0.5, 4), (0.7, 6)], 6e-2)],
)
def test_binned_psi_close_to_exact_sums(d, pilots, rtol):
    # Exact sums are checked against mpmath above. The binning error grows
    # like (grid step / pilot)^2; on these pre-sphered data with ks's grids
    # (steps 0.02, 0.05, 0.12) it measured 9e-4 (1-D), 1.4e-2 (2-D), 2.8e-2
    # (3-D) of the largest entry.
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3, size=(3, d))
    X = centres[rng.integers(3, size=1500)] + rng.normal(size=(1500, d))
    Xs, _ = _pre_transform(X, diagonal=False)
    for g, order in pilots:
        _, exact = psi_isotropic(Xs, g, order)
        _, binned = psi_isotropic_binned(Xs, g, order)
        assert_allclose(binned, exact, rtol=0, atol=rtol * np.abs(exact).max())


@pytest.mark.parametrize(
    "data, rtol",
    [("faithful", 1e-2), ("faithful_eruptions", 1e-3), ("correlated3d", 5e-2)],
)
@pytest.mark.parametrize("r", [0, 1, 2])
def test_binned_plugin_close_to_exact(data, rtol, r):
    X = _load(data)
    exact = plugin_bandwidth(X, deriv_order=r)
    binned = plugin_bandwidth(X, deriv_order=r, binned=True)
    assert np.linalg.norm(binned - exact) / np.linalg.norm(exact) < rtol


def test_binned_needs_at_most_four_features():
    X = np.random.default_rng(0).normal(size=(50, 5))
    with pytest.raises(ValueError, match="at most 4 features"):
        plugin_bandwidth(X, binned=True)


# ---------------------------------------------------------------------------
# Normal scale, weights, transforms, errors
# ---------------------------------------------------------------------------


def test_normal_scale_weighted_is_scipy_silverman():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 2))
    w = rng.uniform(0.1, 2.0, size=60)
    kde = stats.gaussian_kde(X.T, bw_method="silverman", weights=w)
    H = normal_scale_bandwidth(X, sample_weight=w)
    assert_allclose(H, kde.covariance, rtol=1e-12)


def test_pre_sphering_gives_identity_covariance():
    X = _load("correlated3d")
    Xs, root = _pre_transform(X, diagonal=False)
    assert_allclose(np.cov(Xs, rowvar=False), np.eye(3), atol=1e-12)
    assert_allclose(root @ root, np.cov(X, rowvar=False), rtol=1e-12)


@pytest.mark.parametrize("select", [normal_scale_bandwidth, plugin_bandwidth])
@pytest.mark.parametrize("bad", [-1, 3, 1.5, "1"])
def test_bad_deriv_order(select, bad):
    with pytest.raises(ValueError, match="deriv_order must be an integer in"):
        select(_small(), deriv_order=bad)


@pytest.mark.parametrize(
    "select", [normal_scale_bandwidth, plugin_bandwidth, scv_bandwidth, lscv_bandwidth]
)
def test_bad_data(select):
    X = _small()
    with pytest.raises(ValueError, match="NaN|infinity"):
        select(np.where(X > 1, np.nan, X))
    with pytest.raises(ValueError, match="collinear"):
        select(np.column_stack([X[:, 0], 2 * X[:, 0]]))
    with pytest.raises(ValueError, match="more samples"):
        select(X[:2])


def test_lscv_warns_on_duplicates():
    X = np.vstack([_small(n=30), _small(n=30)[:3]])
    with pytest.warns(UserWarning, match="duplicated rows"):
        lscv_bandwidth(X)


# ---------------------------------------------------------------------------
# GaussianKDE with a selector
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, deriv_order",
    [("normal_scale", 2), ("plugin", 1), ("scv", 0), ("lscv", 0)],
)
def test_kde_uses_selector(method, deriv_order):
    from skdensity import GaussianKDE

    X = _load("correlated3d")
    kde = GaussianKDE(method, deriv_order=deriv_order).fit(X)
    select = {**SELECTORS, "lscv": lambda X, deriv_order: lscv_bandwidth(X)}[method]
    assert_allclose(kde.covariance_, select(X, deriv_order=deriv_order), rtol=1e-13)
    assert kde.bandwidth_method_ == method
    L, U = kde.covariance_cholesky_, kde.precision_cholesky_
    assert_allclose(L @ L.T, kde.covariance_, rtol=1e-13)
    assert_allclose(U, np.linalg.inv(L).T, rtol=1e-12, atol=1e-14)
    assert np.all(np.triu(L, 1) == 0)


def test_kde_sample_covariance_is_data_plus_kernel():
    from skdensity import GaussianKDE

    X = _load("faithful")
    kde = GaussianKDE("plugin", deriv_order=1).fit(X)
    draws = kde.sample(200_000, random_state=0)
    # Var(sample) = Var_w(centres) + H (biased data covariance, n = 272).
    expected = np.cov(X, rowvar=False, bias=True) + kde.covariance_
    assert_allclose(np.cov(draws, rowvar=False), expected, rtol=0.03)


def test_kde_selector_errors():
    from skdensity import GaussianKDE

    X = _load("faithful")
    with pytest.raises(ValueError, match="does not take sample weights"):
        GaussianKDE("plugin").fit(X, sample_weight=np.arange(len(X)) + 1.0)
    with pytest.raises(ValueError, match="density only"):
        GaussianKDE("lscv", deriv_order=1).fit(X)
    with pytest.raises(ValueError, match="deriv_order"):
        GaussianKDE("plugin", deriv_order=3).fit(X)
    kde = GaussianKDE("scott", deriv_order=2).fit(X)
    assert kde.bandwidth_method_ == "scott"
    assert GaussianKDE(0.5).fit(X).bandwidth_method_ == "explicit"


@pytest.mark.parametrize("method", ["plugin", "scv", "lscv"])
def test_errors_name_the_selector_given(method):
    # The selectors start from the normal-scale matrix, whose checks raise:
    # the message names the bandwidth the user asked for.
    from skdensity import GaussianKDE

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=f"bandwidth='{method}'"):
        GaussianKDE(method).fit(rng.normal(size=(5, 60)))


@pytest.mark.parametrize(("d", "deriv_order"), [(9, 0), (6, 1), (5, 2), (13, 1)])
@pytest.mark.parametrize("name", ["plugin", "scv"])
def test_selectors_refuse_tensors_too_large_before_any_work(name, d, deriv_order):
    # Order 2r + 8 derivative tensors have d**(2r+8) entries (13-D wine at
    # r = 1: 1.4e11, a MemoryError of a terabyte before this check).
    X = np.random.default_rng(0).normal(size=(40, d))
    with pytest.raises(ValueError, match=r"derivative tensors of order"):
        SELECTORS[name](X, deriv_order=deriv_order)
    with pytest.raises(ValueError, match=rf"bandwidth='{name}'"):
        GaussianKDE(name, deriv_order=deriv_order).fit(X)
