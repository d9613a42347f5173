"""Density ridges: skdensity's find_ridges against R ks::kdr and a plain NumPy SCMS.

Data: a noisy spiral in 2-D (``t`` uniform on [1, 4 pi], points
``(t cos t, t sin t) / 4`` plus N(0, 0.1^2) noise; its arms lie 1.57 apart)
for n in {2 000, 20 000}, and a noisy helix in 3-D (``(cos t, sin t,
t / (2 pi))``, ``t`` uniform on [0, 6 pi], N(0, 0.08^2) noise) for
n = 2 000. One isotropic kernel covariance H = h^2 I for everyone (h = 0.2 on
the spiral, 0.15 on the helix): with a full H, ks's step ``V V^T m`` stops off
the ridge (see the user guide), so only an isotropic H gives every contestant
the same ridge. The same 1 000 starts (a random subsample of the data, seed
0) for everyone. For each data set this times, in one process:

* ``find_ridges(kde, starts, method="scms")`` and ``method="newton"``
  (default ``tol=1e-3``; no density or eigenvalue filter, so that every
  contestant's converged end points are compared);
* a plain NumPy SCMS, the research-script algorithm written directly: per
  iteration and per block of 500 moving points, the m x n kernel weights,
  the weighted mean and second moments, ``eigh``, ``x += V V^T m``, with
  the same stopping rule as ``find_ridges`` (normal gradient within ``tol``
  of the gradient, or normal Newton distance within ``tol`` bandwidths);
* R ks::kdr (``Rscript``, ks's defaults: Hessian from ``kdde`` on a
  151^2 / 51^3 grid, binned above 500 / 1000 points, kernel support 3.7
  bandwidths, interpolated; ``tol.iter = 0.001 min IQR``, ``max.iter = 400``)
  with ``y`` = the starts, ``pre = FALSE``, ``segment = FALSE`` and
  ``density.cutoff = 0`` (no filter), timed inside R around the ``kdr``
  call alone; and again with ``binned = FALSE`` (exact Hessians on the grid).
  ``kdr`` still drops the end points that single linkage at 1% of the data's
  largest IQR leaves alone, hence fewer end points.

skdensity and the plain loop are timed as the best of ``--repeat`` runs
(default 5), interleaved; ks once.

Accuracy: the Hausdorff distance between each contestant's end points and
``find_ridges``'s (scms), and how far each contestant's end points lie from
the exact ridge: each is projected onto the ridge of log f by ``find_ridges``
(``method="newton"``, ``tol=1e-10``) and the move measured (median and 95th
percentile, in units of h). ks follows the Hessian of f, skdensity of log f:
the ridges share their points except where the two Hessians order their
eigenvectors differently, which a few of ks's end points do (they move far
when projected: the 95th percentile and the count of moves above h say how
many).

Run ``python benchmarks/bench_ridges.py`` (``--quick``: n = 500, 200
starts; ``--no-ks`` without R). The markdown table is printed and written to
``benchmarks/results/bench_ridges.md`` (``--out`` to change). On a shared
machine the times drift; quote the ratios.
"""

import argparse
import datetime
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.spatial.distance import directed_hausdorff

import skdensity
from skdensity import GaussianKDE, find_ridges

RESULTS = Path(__file__).parent / "results"

KS_SCRIPT = r"""
suppressPackageStartupMessages(library(ks))
args <- commandArgs(TRUE)
x <- as.matrix(read.csv(args[1]))
y <- as.matrix(read.csv(args[2]))
h <- as.numeric(args[3])
binned <- args[5] == "default"
H <- diag(h^2, ncol(x))
start <- proc.time()[["elapsed"]]
if (binned) {
    fit <- kdr(x = x, y = y, H = H, segment = FALSE, density.cutoff = 0,
               pre = FALSE)
} else {
    fit <- kdr(x = x, y = y, H = H, segment = FALSE, density.cutoff = 0,
               pre = FALSE, binned = FALSE)
}
elapsed <- proc.time()[["elapsed"]] - start
ep <- as.matrix(fit$end.points[, seq_len(ncol(x))])
write.csv(format(as.data.frame(ep), digits = 17), args[4], row.names = FALSE,
          quote = FALSE)
cat(elapsed, as.character(packageVersion("ks")), "\n")
"""


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def spiral(n, rng):
    t = rng.uniform(1.0, 4 * np.pi, n)
    return np.c_[t * np.cos(t), t * np.sin(t)] / 4 + rng.normal(0, 0.1, (n, 2))


def helix(n, rng):
    t = rng.uniform(0.0, 6 * np.pi, n)
    curve = np.c_[np.cos(t), np.sin(t), t / (2 * np.pi)]
    return curve + rng.normal(0, 0.08, (n, 3))


# ---------------------------------------------------------------------------
# Contestants
# ---------------------------------------------------------------------------


def plain_scms(X, Y, h, tol=1e-3, max_iter=1000, block=500):
    """Subspace-constrained mean shift written directly in NumPy (isotropic
    kernel h): returns the end points and the iterations."""
    X = np.asarray(X, dtype=float)
    Y = np.array(Y, dtype=float)
    d = X.shape[1]
    outer = (X[:, :, None] * X[:, None, :]).reshape(len(X), d * d)
    sq_x = np.einsum("ij,ij->i", X, X)
    n_iter = np.zeros(len(Y), dtype=int)
    active = np.arange(len(Y))
    for _ in range(max_iter):
        if active.size == 0:
            break
        still = []
        for start in range(0, active.size, block):
            rows = active[start : start + block]
            y = Y[rows]
            d2 = np.einsum("ij,ij->i", y, y)[:, None] + sq_x - 2 * y @ X.T
            w = np.exp(-(d2 - d2.min(axis=1, keepdims=True)) / (2 * h * h))
            w /= w.sum(axis=1, keepdims=True)
            mean = w @ X
            shift = mean - y
            cov = (w @ outer).reshape(-1, d, d) - mean[:, :, None] * mean[:, None, :]
            lam, vec = np.linalg.eigh(cov)  # Hessian of log f: (cov - h^2 I) / h^4
            V = vec[:, :, : d - 1]
            normal = np.einsum("mdk,md->mk", V, shift)
            curvature = (lam[:, : d - 1] - h * h) / h**4
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = np.linalg.norm(normal / (h * h) / curvature, axis=1) / h
            concave = (curvature < 0).all(axis=1)
            done = np.linalg.norm(normal, axis=1) <= tol * np.linalg.norm(shift, axis=1)
            done |= concave & (newton <= tol)
            move = ~done
            Y[rows[move]] += np.einsum("mdk,mk->md", V[move], normal[move])
            n_iter[rows[move]] += 1
            still.append(rows[move])
        active = np.concatenate(still)
    return Y, n_iter


def run_ks(X, starts, h, variant):
    """ks::kdr's end points and its own timing of the kdr call."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savetxt(
            tmp / "x.csv",
            X,
            delimiter=",",
            header="a,b,c"[: 2 * X.shape[1] - 1],
            comments="",
            fmt="%.17g",
        )
        np.savetxt(
            tmp / "y.csv",
            starts,
            delimiter=",",
            header="a,b,c"[: 2 * X.shape[1] - 1],
            comments="",
            fmt="%.17g",
        )
        (tmp / "kdr.R").write_text(KS_SCRIPT)
        out = subprocess.run(
            [
                "Rscript",
                str(tmp / "kdr.R"),
                str(tmp / "x.csv"),
                str(tmp / "y.csv"),
                repr(h),
                str(tmp / "end.csv"),
                variant,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        end = np.loadtxt(tmp / "end.csv", delimiter=",", skiprows=1, ndmin=2)
    return float(out[0]), end, out[1]


# ---------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------


def hausdorff(A, B):
    return max(directed_hausdorff(A, B)[0], directed_hausdorff(B, A)[0])


def distance_to_ridge(kde, points, h):
    """How far each point moves when projected onto the ridge of log f, in h."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        projected = find_ridges(
            kde,
            points,
            method="newton",
            tol=1e-10,
            hdr_prob=None,
            max_normal_eigenvalue=None,
        )
    move = np.linalg.norm(projected.end_points - points, axis=1) / h
    return move[projected.converged]


def case_rows(name, X, h, n_starts, with_ks, repeat):
    rng = np.random.default_rng(0)
    starts = X[rng.choice(len(X), n_starts, replace=False)]
    kde = GaussianKDE(bandwidth=h).fit(X)
    rows = []

    def add(label, seconds, end, n_iter=None):
        rows.append(
            {
                "case": name,
                "method": label,
                "time": seconds,
                "end": end,
                "n_iter": n_iter,
            }
        )

    def ours(method):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = find_ridges(
                kde, starts, method=method, hdr_prob=None, max_normal_eigenvalue=None
            )
        return result.end_points[result.converged], result.n_iter

    contestants = {
        "skdensity find_ridges(scms)": lambda: ours("scms"),
        "skdensity find_ridges(newton)": lambda: ours("newton"),
        "plain NumPy SCMS": lambda: plain_scms(X, starts, h),
    }
    # Interleaved repeats: a burst of load elsewhere hits every contestant.
    best = dict.fromkeys(contestants, np.inf)
    for _ in range(repeat):
        for label, run in contestants.items():
            start = time.perf_counter()
            end, n_iter = run()
            best[label] = min(best[label], time.perf_counter() - start)
    for label, run in contestants.items():
        add(label, best[label], *run())
    ks_version = None
    if with_ks:
        for variant in ("default", "unbinned"):
            seconds, end, ks_version = run_ks(X, starts, h, variant)
            label = "R ks::kdr" + (" (binned=FALSE)" if variant == "unbinned" else "")
            add(label, seconds, end)
    reference = rows[0]["end"]
    for row in rows:
        row["hausdorff"] = hausdorff(row["end"], reference) / h
        move = distance_to_ridge(kde, row["end"], h)
        row["median"], row["p95"] = np.median(move), np.percentile(move, 95)
        row["far"] = int(np.count_nonzero(move > 1))
        row["ratio"] = row["time"] / rows[0]["time"]
    return rows, ks_version


def format_rows(rows):
    lines = [
        "| data | method | time (s) | time / find_ridges(scms) | mean / max iter "
        "| end points | Hausdorff to scms (h) | distance to ridge, median / 95% (h) "
        "| moved > h |",
        "|---|---|---:|---:|---|---:|---:|---|---:|",
    ]
    for r in rows:
        iters = (
            "-"
            if r["n_iter"] is None
            else f"{r['n_iter'].mean():.1f} / {r['n_iter'].max()}"
        )
        lines.append(
            f"| {r['case']} | {r['method']} | {r['time']:.3g} | {r['ratio']:.3g}x "
            f"| {iters} | {len(r['end'])} | {r['hausdorff']:.2e} "
            f"| {r['median']:.1e} / {r['p95']:.1e} | {r['far']} |"
        )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-ks", action="store_true", help="skip R ks::kdr")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_ridges.md")
    args = parser.parse_args()
    with_ks = not args.no_ks and shutil.which("Rscript") is not None
    rng = np.random.default_rng(1)
    if args.quick:
        cases = [("spiral 2-D, n=500", spiral(500, rng), 0.2, 200)]
    else:
        cases = [
            ("spiral 2-D, n=2000", spiral(2000, rng), 0.2, 1000),
            ("spiral 2-D, n=20000", spiral(20000, rng), 0.2, 1000),
            ("helix 3-D, n=2000", helix(2000, rng), 0.15, 1000),
        ]
    rows, ks_version = [], None
    for name, X, h, n_starts in cases:
        print(f"{name} ...", flush=True)
        case, version = case_rows(name, X, h, n_starts, with_ks, args.repeat)
        rows += case
        ks_version = version or ks_version
    lines = [
        "# Density ridges benchmark",
        "",
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"skdensity {skdensity.__version__}, numpy {np.__version__}"
        + (f", R ks {ks_version}" if ks_version else "")
        + "; isotropic H = h^2 I, the same starts for every method "
        "(see the script's docstring).",
        "",
        *format_rows(rows),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
