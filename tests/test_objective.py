"""``objective()``: -log f and its derivatives as scipy.optimize callables.

Oracles: scipy.stats.gaussian_kde and sklearn's GaussianMixture (values),
Richardson differences of scipy's log-density (derivatives), a
Nelder-Mead minimum of scipy's density with tight tolerances (the mode), and
the closed form of one Gaussian component (its mean is its mode).
"""

import numpy as np
import pytest
from _oracles import richardson_gradient, richardson_hessian
from numpy.testing import assert_allclose
from scipy import stats
from scipy.optimize import minimize
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture

from skdensity import BayesianGaussianMixtureGrad, GaussianKDE, GaussianMixtureGrad
from skdensity.datasets import load_faithful


@pytest.fixture(scope="module")
def faithful():
    return load_faithful()[0]


@pytest.fixture(scope="module")
def scipy_mode(faithful):
    """The higher mode of scipy's KDE by Nelder-Mead (independent of skdensity)."""
    kde = stats.gaussian_kde(faithful.T)
    res = minimize(
        lambda x: -kde.logpdf(x)[0], [4.3, 80.0], method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 5000},
    )  # fmt: skip
    return kde, res.x


def test_values_and_derivatives_against_scipy(faithful, scipy_mode):
    kde, _ = scipy_mode
    fun, jac, hess = GaussianKDE().fit(faithful).objective()
    x = np.array([3.1, 66.0])
    assert_allclose(fun(x), -kde.logpdf(x)[0], rtol=1e-12)
    steps = 0.1 * np.sqrt(np.diag(kde.covariance))
    grad = richardson_gradient(lambda Z: kde.logpdf(Z.T), x[None], steps)[0]
    assert_allclose(jac(x), -grad, rtol=1e-7)
    H = richardson_hessian(lambda Z: kde.logpdf(Z.T), x[None], steps)[0]
    assert_allclose(hess(x), -H, rtol=1e-6, atol=1e-9 * np.abs(H).max())
    # scipy's own calls: a list, then the same point again (remembered)
    assert fun([3.1, 66.0]) == fun(x) and jac(x).shape == (2,)


@pytest.mark.parametrize("method", ["Newton-CG", "trust-exact", "BFGS"])
def test_minimize_finds_the_kde_mode(faithful, scipy_mode, method):
    _, mode = scipy_mode
    fun, jac, hess = GaussianKDE().fit(faithful).objective()
    kwargs = {} if method == "BFGS" else {"hess": hess}
    res = minimize(fun, [4.0, 75.0], jac=jac, method=method, **kwargs,
                   options={"gtol": 1e-10} if method == "BFGS" else {})  # fmt: skip
    assert res.success, res.message
    # 1e-6 of the kernel scale (Nelder-Mead's xatol of 1e-10 is far tighter)
    scale = np.sqrt(np.diag(GaussianKDE().fit(faithful).covariance_))
    assert np.all(np.abs(res.x - mode) < 1e-6 * scale)


@pytest.mark.parametrize("cls", [GaussianMixtureGrad, BayesianGaussianMixtureGrad])
def test_mixture_of_one_component_has_its_mean_as_minimum(faithful, cls):
    gm = cls(n_components=1, random_state=0).fit(faithful)
    fun, jac, hess = gm.objective()
    res = minimize(fun, [1.0, 40.0], jac=jac, hess=hess, method="trust-exact")
    assert_allclose(res.x, gm.means_[0], rtol=1e-9)
    oracle = GaussianMixture(1, random_state=0).fit(faithful)
    if cls is GaussianMixtureGrad:
        assert_allclose(fun(res.x), -oracle.score_samples(res.x[None])[0], rtol=1e-12)


def test_far_away_the_objective_stays_finite(faithful):
    fun, jac, hess = GaussianKDE().fit(faithful).objective()
    x = np.array([1e6, -1e6])
    assert np.isfinite(fun(x)) and np.isfinite(jac(x)).all()
    assert np.isfinite(hess(x)).all()


def test_errors(faithful):
    with pytest.raises(NotFittedError):
        GaussianKDE().objective()
    fun, jac, _ = GaussianKDE().fit(faithful).objective()
    with pytest.raises(ValueError, match="point of 2 finite values"):
        fun([[1.0, 2.0]])
    with pytest.raises(ValueError, match="point of 2 finite values"):
        jac([np.nan, 2.0])


def test_dataframe_fit_takes_plain_points(faithful, recwarn):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(faithful, columns=["eruptions", "waiting"])
    fun, jac, _ = GaussianKDE().fit(df).objective()
    fun(np.array([3.0, 70.0]))
    jac(np.array([3.0, 70.0]))
    assert not [w for w in recwarn if "feature names" in str(w.message)]


def test_callables_shared_by_threads(faithful):
    # The remembered point is read and replaced under a lock: each thread
    # gets its own point's values (against scipy's KDE).
    import threading

    kde = GaussianKDE().fit(faithful)
    fun, jac, _ = kde.objective()
    rng = np.random.default_rng(4)
    points = faithful[rng.choice(len(faithful), 20)] + 0.1
    expected = -stats.gaussian_kde(faithful.T).logpdf(points.T)
    gradients = -kde.gradient(points, log=True)
    wrong = []

    def work(seed):
        r = np.random.default_rng(seed)
        for _ in range(1500):
            i = r.integers(len(points))
            f, g = fun(points[i]), jac(points[i])
            if abs(f - expected[i]) > 1e-9 or np.abs(g - gradients[i]).max() > 1e-9:
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


@pytest.mark.parametrize("cls", [GaussianKDE, GaussianMixtureGrad])
def test_callables_follow_a_refit_or_an_edit(faithful, cls):
    est = cls(**({"random_state": 0} if cls is GaussianMixtureGrad else {}))
    est.fit(faithful)
    fun, jac, _ = est.objective()
    x = np.array([3.0, 70.0])
    fun(x)
    if cls is GaussianKDE:
        est.fit(faithful + [1.0, 5.0])
    else:
        est.means_ += [1.0, 5.0]
    assert_allclose(fun(x), -est.score_samples(x[None])[0], rtol=1e-12)
    assert_allclose(jac(x), -est.gradient(x[None], log=True)[0], rtol=1e-10)
