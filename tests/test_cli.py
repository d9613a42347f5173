"""The command-line tool, end to end through a subprocess.

Numbers written by the tool are compared with independent oracles
(scipy.stats.gaussian_kde, Richardson-extrapolated differences of its
log-density, moments of the data), never with the library's own output.
"""

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _cli_helpers import run
from _oracles import richardson_gradient, richardson_hessian
from numpy.testing import assert_allclose
from scipy import stats
from scipy.optimize import minimize
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

import skdensity
from skdensity.datasets import load_faithful


def run_subprocess(*args, check=True):
    """Run ``python -m skdensity ARGS`` in a new interpreter."""
    proc = subprocess.run(
        [sys.executable, "-m", "skdensity", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def read_csv(text):
    """Header and values of a CSV written by the tool."""
    lines = text.strip().splitlines()
    values = np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",", ndmin=2)
    return lines[0].split(","), values


@pytest.fixture
def faithful():
    X, names = load_faithful()
    return X, names


@pytest.fixture
def small_csv(tmp_path):
    """A CSV with a non-numeric label column and 3 numeric columns."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) * [1.0, 2.0, 0.5]
    path = tmp_path / "data.csv"
    lines = ["id,a,b,c"] + [
        f"p{i},{r[0]!r},{r[1]!r},{r[2]!r}" for i, r in enumerate(X.tolist())
    ]
    path.write_text("\n".join(lines) + "\n")
    return path, X


def test_no_argument_runs_the_main_job_on_old_faithful():
    proc = run_subprocess()
    assert "Old Faithful" in proc.stdout
    assert "2 modes" in proc.stdout
    assert proc.stdout == run("modes").stdout


def _modes_table(*args):
    """The modes CSV the tool writes with ``modes -o``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "modes.csv"
        report = run("modes", *args, "-o", out).stdout
        return report, *read_csv(out.read_text())


def test_modes_of_old_faithful_against_scipy(faithful):
    X, names = faithful
    report, header, table = _modes_table()
    assert header == [*names, "log_density", "hess_eig_1", "hess_eig_2", "n_points"]
    assert table.shape[0] == 2 and table[:, -1].sum() == len(X)
    assert table[0, 2] > table[1, 2]  # by decreasing density
    kde = stats.gaussian_kde(X.T)
    assert_allclose(table[:, 2], kde.logpdf(table[:, :2].T), rtol=1e-10)
    kernel_std = np.sqrt(np.diag(kde.covariance))
    for row in table:
        # An independent optimiser on scipy's density lands on the same mode.
        res = minimize(
            lambda x: -kde.logpdf(x)[0], row[:2], method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-14},
        )  # fmt: skip
        assert np.all(np.abs(res.x - row[:2]) < 1e-4 * kernel_std)
        hess = richardson_hessian(
            lambda Z: kde.logpdf(Z.T), row[None, :2], steps=0.1 * kernel_std
        )[0]
        assert_allclose(row[3:5], np.linalg.eigvalsh(hess), rtol=1e-6)
    assert "mode  eruptions  waiting" in report


def test_gmm_modes_are_critical_points_of_sklearn_density(faithful):
    X, _ = faithful
    args = ["--estimator", "gmm", "--n-components", 3, "--random-state", 0]
    _, _, table = _modes_table(*args)
    gmm = GaussianMixture(3, n_init=3, random_state=0).fit(X)
    modes = table[:, :2]
    grad = richardson_gradient(gmm.score_samples, modes, steps=[0.05, 0.5])
    assert np.all(np.abs(grad) * [0.5, 5.0] < 1e-6)
    assert np.all(table[:, 3:5] < 0)
    # Two of the three components overlap into one mode, at none of the means.
    assert len(modes) == 2
    distance = np.abs(modes[:, None] - gmm.means_[None]).sum(-1).min(axis=1)
    assert distance.max() > 1.0


def test_cluster_labels_recover_separated_blobs(tmp_path):
    X, truth = make_blobs(
        n_samples=150, centers=[[0, 0], [6, 0], [0, 6]], random_state=0
    )
    path = tmp_path / "blobs.csv"
    np.savetxt(path, X, delimiter=",", header="u,v", comments="")
    header, values = read_csv(run("cluster", path).stdout)
    assert header == ["u", "v", "label"]
    assert_allclose(values[:, :2], X)
    assert adjusted_rand_score(truth, values[:, 2]) == 1.0
    # --min-cluster-size larger than any blob merges everything into one.
    merged = read_csv(run("cluster", path, "--min-cluster-size", 60).stdout)[1]
    assert len(np.unique(merged[:, 2])) < 3


def test_console_script_is_installed():
    script = shutil.which("skdensity")
    if script is None:  # an install that predates the [project.scripts] entry
        pytest.skip("the skdensity console script is not on PATH; pip install .")
    proc = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == skdensity.__version__


def test_missing_file_in_a_real_interpreter():
    proc = run_subprocess("grad", "no/such.csv", check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_for_the_tool_and_each_command():
    top = run_subprocess("--help").stdout
    for command in ("modes", "cluster", "score", "grad", "sample"):
        assert command in top
        text = run(command, "--help").stdout
        assert f"usage: skdensity {command}" in text
        assert "--bandwidth" in text and "--columns" in text


def test_score_on_old_faithful_matches_scipy(faithful):
    X, names = faithful
    header, values = read_csv(run_subprocess("score").stdout)
    assert header == [*names, "log_density"]
    assert_allclose(values[:, :2], X)
    assert_allclose(values[:, 2], stats.gaussian_kde(X.T).logpdf(X.T), rtol=1e-10)


def test_score_density_at_query_file_with_silverman(tmp_path, faithful):
    X, _ = faithful
    Q = np.array([[2.0, 55.0], [4.4, 80.0], [3.0, 70.0]])
    at = tmp_path / "q.csv"
    at.write_text("waiting,eruptions\n" + "".join(f"{w},{e}\n" for e, w in Q))
    out = tmp_path / "out.csv"
    run("score", "--at", at, "--bandwidth", "silverman", "--density", "-o", out)
    header, values = read_csv(out.read_text())
    assert header == ["eruptions", "waiting", "density"]
    assert_allclose(values[:, :2], Q)
    oracle = stats.gaussian_kde(X.T, bw_method="silverman").evaluate(Q.T)
    assert_allclose(values[:, 2], oracle, rtol=1e-10)


def test_grad_matches_differences_of_scipy_log_density(small_csv):
    path, X = small_csv
    header, values = read_csv(run("grad", path, "--columns", "a,c").stdout)
    assert header == ["a", "c", "dlogf_da", "dlogf_dc"]
    data = X[:, [0, 2]]
    kde = stats.gaussian_kde(data.T)
    oracle = richardson_gradient(
        lambda Z: kde.logpdf(Z.T), data, steps=0.1 * data.std(axis=0)
    )
    assert_allclose(values[:, 2:], oracle, rtol=1e-7, atol=1e-9)


def test_grad_of_density_with_float_bandwidth_is_closed_form(tmp_path):
    # One kernel: f = N(x; 0, h^2), so df/dx = -x / h^2 f(x).
    path = tmp_path / "one.csv"
    path.write_text("x\n0.0\n")
    at = tmp_path / "at.csv"
    at.write_text("x\n-1.0\n0.5\n2.0\n")
    _, values = read_csv(
        run("grad", path, "--at", at, "--bandwidth", "0.5", "--density").stdout
    )
    x = values[:, 0]
    assert_allclose(values[:, 1], -x / 0.25 * stats.norm.pdf(x, scale=0.5))


def test_sample_writes_rows_like_the_data(faithful):
    X, names = faithful
    header, values = read_csv(
        run("sample", "-n", 3000, "--random-state", 0, "--bandwidth", "0.1").stdout
    )
    assert header == names
    assert values.shape == (3000, 2)
    # A KDE sample has the data mean and the data covariance plus h^2 I.
    assert_allclose(values.mean(axis=0), X.mean(axis=0), rtol=0.02)
    assert_allclose(
        np.cov(values.T), np.cov(X.T, bias=True) + 0.01 * np.eye(2), rtol=0.1
    )
    again = read_csv(
        run("sample", "-n", 3000, "--random-state", 0, "--bandwidth", "0.1").stdout
    )[1]
    assert_allclose(again, values)


def test_file_without_header_and_other_delimiter(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("1.0;2.0\n2.0;1.0\n0.0;0.5\n")
    header, values = read_csv(
        run("score", path, "--delimiter", ";", "--bandwidth", "1").stdout
    )
    assert header == ["x0", "x1", "log_density"]
    data = np.array([[1.0, 2.0], [2.0, 1.0], [0.0, 0.5]])
    dist = [stats.multivariate_normal(mean=row) for row in data]
    oracle = np.log(np.mean([d.pdf(data) for d in dist], axis=0))
    assert_allclose(values[:, 2], oracle, rtol=1e-12)


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "missing.csv"], "no such file"),
        (["score", "{data}", "--columns", "id,a"], "column 'id' is not numeric"),
        (["score", "{data}", "--columns", "a,zz"], "no column 'zz'"),
        (["score", "--bandwidth", "-1"], "must be positive"),
        (["score", "--bandwidth", "wide"], "is not one of scott, silverman"),
        (["score", "--estimator", "gmm", "--n-components", "two"], "not a positive"),
        (["grad", "{data}", "--columns", "a,b", "--bandwidth", "1,2,3"], "3 per-col"),
        (["score", "{data}", "--columns", "a,b,c", "--plot", "x.png"], "1 or 2"),
        (["score", "--plot", "x.jpeg2000"], "give a file name ending in"),
        (["score", "--delimiter", "ab"], "is not one character"),
        (["score", "--encoding", "klingon"], "not an encoding Python knows"),
        (["cluster", "--min-cluster-size", "1.5"], "neither a number of rows"),
        (["cluster", "--min-prominence", "-1"], "not a non-negative number"),
        (["score", "-o", "{tmp}/no/such/dir/out.csv"], "does not exist"),
        (["score", "-o", "{tmp}"], "is a folder"),
        (["score", "--plot", "{tmp}/nope/p.png"], "does not exist"),
    ],
)
def test_clear_errors(small_csv, args, message):
    path, _ = small_csv
    proc = run(*(a.format(data=path, tmp=path.parent) for a in args), check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_nan_error_names_row_and_column(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("u,v\n1,2\n3,4\n5,\n7,8\n")
    proc = run("score", path, check=False)
    assert proc.returncode == 2
    assert "missing value (NaN) at row 3 (line 4), column 'v'" in proc.stderr
    path.write_text("u,v\n1,2\nnan,4\n")
    assert "row 2 (line 3), column 'u'" in run("score", path, check=False).stderr


def test_estimator_errors_are_reported_without_traceback(tmp_path):
    path = tmp_path / "same.csv"
    path.write_text("u,v\n1,2\n1,2\n1,2\n")
    proc = run("score", path, check=False)
    assert proc.returncode == 2
    assert "singular" in proc.stderr and "Traceback" not in proc.stderr


def test_progress_bar_on_request(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "big.csv"
    np.savetxt(
        path, rng.normal(size=(3000, 2)), delimiter=",", header="a,b", comments=""
    )
    proc = run("score", path, "--progress", "-o", tmp_path / "out.csv")
    assert "3000/3000" in proc.stderr
    assert "fitting GaussianKDE ... done" in proc.stderr
    assert "rows" not in run("score", path, "-o", tmp_path / "o.csv").stderr


@pytest.mark.parametrize("columns", ["eruptions", "eruptions,waiting"])
@pytest.mark.parametrize("command", ["modes", "cluster", "score", "grad", "sample"])
def test_plot_writes_a_picture(tmp_path, command, columns):
    pytest.importorskip("matplotlib", reason="--plot needs the cli extra")
    png = tmp_path / f"{command}.png"
    run(command, "--columns", columns, "--plot", png, "-o", tmp_path / "out.csv")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.csv", png.name])


def test_plot_other_formats(tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs the cli extra")
    run("modes", "--plot", tmp_path / "m.svg", "-q")
    assert (tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")


def test_cluster_colours_never_repeat():
    pytest.importorskip("matplotlib", reason="--plot needs the cli extra")
    from skdensity._cli._plot import cluster_colours

    for k in (3, 9, 15, 40):
        colours = cluster_colours(np.arange(k))
        assert colours.shape == (k, 3)
        distance = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
        assert distance[np.triu_indices(k, 1)].min() > 0.01


def test_algorithm_option_matches_scipy_within_rtol(faithful):
    X, _ = faithful
    _, values = read_csv(run("score", "--algorithm", "tree").stdout)
    oracle = stats.gaussian_kde(X.T).logpdf(X.T)
    assert_allclose(np.exp(values[:, 2] - oracle), 1.0, atol=2e-4)


def test_cluster_defaults_and_merging_options(tmp_path):
    # Three blobs of 100, 100 and 3 points: ks::kms's rule (clusters of at
    # most round(0.01 n) = 2 points merge) keeps the 3-point cluster;
    # a fraction of 0.02 (round(4.06) = 4) merges it.
    rng = np.random.default_rng(0)
    X = np.vstack(
        [rng.normal(0, 0.5, (100, 2)), rng.normal(6, 0.5, (100, 2)),
         [[3.0, 10.0], [3.1, 10.0], [3.0, 10.1]]]
    )  # fmt: skip
    path = tmp_path / "three.csv"
    np.savetxt(path, X, delimiter=",", header="u,v", comments="")
    labels = read_csv(run("cluster", path, "--bandwidth", "0.5").stdout)[1][:, 2]
    assert len(np.unique(labels)) == 3
    proc = run("cluster", path, "--bandwidth", "0.5", "--min-cluster-size", "0.02")
    assert len(np.unique(read_csv(proc.stdout)[1][:, 2])) == 2
    assert "merged into their neighbours" in proc.stderr
    proc = run("cluster", path, "--bandwidth", "0.5", "--min-prominence", "1e9")
    assert len(np.unique(read_csv(proc.stdout)[1][:, 2])) == 1


def test_gmm_score_matches_sklearn(faithful):
    X, _ = faithful
    _, values = read_csv(
        run(
            "score", "--estimator", "gmm", "--n-components", 2, "--random-state", 0
        ).stdout
    )
    oracle = GaussianMixture(2, n_init=3, random_state=0).fit(X).score_samples(X)
    assert_allclose(values[:, 2], oracle, rtol=1e-10)


def test_gmm_components_chosen_by_bic(small_csv):
    path, X = small_csv
    proc = run(
        "score", path, "--columns", "a,b,c", "--estimator", "gmm",
        "--covariance-type", "diag", "--random-state", 0, "--progress",
    )  # fmt: skip
    bics = [
        GaussianMixture(k, covariance_type="diag", n_init=3, random_state=0)
        .fit(X)
        .bic(X)
        for k in range(1, 11)
    ]
    assert f"n_components={int(np.argmin(bics)) + 1}," in proc.stderr
    assert "fitting GaussianMixtureGrad, 10 components ... done" in proc.stderr


# sklearn's variational fit stops at max_iter on this data; the tool lets the
# warning through to the user, the test only checks the shape of the output.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bgmm_sample_shape(faithful):
    args = ["--estimator", "bgmm", "--n-components", 3, "--random-state", 0]
    header, values = read_csv(run("sample", *args, "-n", 50).stdout)
    assert header == faithful[1] and values.shape == (50, 2)


def test_ridges_are_ridges_of_scipy_density(tmp_path, faithful):
    X, names = faithful
    png = tmp_path / "ridges.png"
    proc = run("ridges", "-o", tmp_path / "r.csv", "--plot", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header, table = read_csv((tmp_path / "r.csv").read_text())
    assert header == [*names, "log_density", "eigenvalue_gap"]
    assert 0 < len(table) <= len(X)
    kde = stats.gaussian_kde(X.T)
    points = table[:, :2]
    assert_allclose(table[:, 2], kde.logpdf(points.T), rtol=1e-10)
    steps = 0.1 * np.sqrt(np.diag(kde.covariance))
    grad = richardson_gradient(lambda Z: kde.logpdf(Z.T), points, steps)
    hess = richardson_hessian(lambda Z: kde.logpdf(Z.T), points, steps)
    lam, vec = np.linalg.eigh(hess)
    assert_allclose(table[:, 3], lam[:, 1] - lam[:, 0], rtol=1e-5)
    # On a ridge the gradient lies along the tangent (the eigenvector of the
    # largest eigenvalue, ks::kdr's definition): its normal part is small, or
    # the Newton step it implies is (find_ridges' tol of 1e-3, with room).
    normal = np.abs(np.einsum("mi,mi->m", vec[:, :, 0], grad))
    tangent_ok = normal <= 1e-2 * np.linalg.norm(grad, axis=1)
    newton_ok = normal / np.abs(lam[:, 0]) <= 1e-2 * steps.min() * 10
    assert np.all(tangent_ok | newton_ok)
    if len(table) < len(X):
        assert "ascents ended on a ridge" in proc.stderr
    one = run("ridges", "--columns", "waiting", check=False)
    assert one.returncode == 2 and "at least 2 columns" in one.stderr


@pytest.mark.parametrize("starts", ["default", "rows", "grid"])
def test_ridges_start_where_asked(monkeypatch, faithful, starts):
    # By default find_ridges chooses its own starts (a subsample of a large
    # file); --starts rows passes every row.
    real, seen = skdensity.find_ridges, []

    def spy(density, X0=None, **kwargs):
        seen.append(X0)
        return real(density, X0, **kwargs)

    monkeypatch.setattr(skdensity, "find_ridges", spy)
    run("ridges", *(() if starts == "default" else ("--starts", starts)))
    (first,) = seen
    if starts == "rows":
        assert_allclose(first, faithful[0])
    else:
        assert first == (None if starts == "default" else starts)
