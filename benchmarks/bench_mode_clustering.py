"""Mode clustering: skdensity against scikit-learn's MeanShift, side by side.

Data: ``make_blobs(n, centers=4, cluster_std=1, random_state=3)`` in 2-D, for
n in {5 000, 20 000} -- four blobs of which sklearn's default bandwidth
merges two. For each n this times, in one process on the same data,

* ``sklearn.cluster.MeanShift()`` (flat kernel, ``estimate_bandwidth``, one
  seed per point) and ``MeanShift(bin_seeding=True)``;
* ``ModeClustering()``: Gaussian KDE with scipy's Scott rule (full kernel
  covariance ``s^2 C``), ``method="auto"`` (Newton), ``tol=1e-3``, clusters
  below 1% of n merged (``min_cluster_size=0.01``, R ks's ``kms`` rule);
* ``ModeClustering(GaussianKDE(s * std_j))``: the same with per-feature Scott
  bandwidths (diagonal kernel), which does not stretch the kernel along the
  blobs' overall correlation;

reporting wall time, the ratio to ``MeanShift()``, the largest number of
iterations, the number of clusters and the adjusted Rand index against the
true blobs. Then the bandwidth comparison (issue 13): ``ModeClustering``
with Scott's rule and with the plug-in bandwidth for the gradient
(``GaussianKDE("plugin", deriv_order=1)``, R ks's ``kms`` default), each
with ``min_cluster_size`` 1 (no merging) and 1% of n (ks's default and
skdensity's); the selection time is given apart (the plug-in's double sums
are O(n^2)). Then, from every point of each of the two KDEs, ``find_modes``
with ``"mean-shift"`` and ``"newton"`` at ``tol`` 1e-3 and 1e-8 of the
bandwidth: time, mean and largest iterations per start.

Then the data sets of issue 12 (item 7): 4 blobs in 5-D
(``make_blobs(5000, n_features=5, centers=4, random_state=3)``), iris and
wine: ``MeanShift(bin_seeding=True)``, ``ModeClustering()`` with its defaults,
with prominence merging (``min_prominence=1``) and with the plug-in bandwidth
for the gradient; time, clusters, adjusted Rand index against the classes,
and how many modes the defaults merged.

Times are wall-clock minima over ``--repeat`` runs (``MeanShift()`` and the
scipy-Scott ascents run once: they take minutes). On a shared machine they
drift; quote the ratios.

Run ``python benchmarks/bench_mode_clustering.py`` (``--quick``: n = 2 000
and no ``MeanShift()``); the markdown tables are printed and written to
``benchmarks/results/bench_mode_clustering.md`` (``--out`` to change).
"""

import argparse
import datetime
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.cluster import MeanShift
from sklearn.datasets import load_iris, load_wine, make_blobs
from sklearn.metrics import adjusted_rand_score

import skdensity
from skdensity import GaussianKDE, ModeClustering, find_modes

RESULTS = Path(__file__).parent / "results"
RANDOM_STATE = 3


def timed(func, repeat):
    """Best wall time of ``repeat`` calls, and the last result."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def per_feature_scott(X):
    """Per-feature Scott bandwidths ``n^(-1/(d+4)) * std_j``."""
    n, d = X.shape
    return n ** (-1.0 / (d + 4)) * X.std(axis=0, ddof=1)


def clustering_rows(X, y, repeat, with_default):
    rows = []
    estimators = []
    if with_default:
        estimators.append(("sklearn MeanShift()", MeanShift(), 1))
    estimators += [
        ("sklearn MeanShift(bin_seeding=True)", MeanShift(bin_seeding=True), repeat),
        ("ModeClustering() [Scott, full H]", ModeClustering(), repeat),
        (
            "ModeClustering(GaussianKDE(per-feature Scott))",
            ModeClustering(GaussianKDE(per_feature_scott(X))),
            repeat,
        ),
    ]
    for name, estimator, n_repeat in estimators:
        seconds, fitted = timed(lambda e=estimator: e.fit(X), n_repeat)
        rows.append(
            {
                "method": name,
                "seconds": seconds,
                "n_iter": int(fitted.n_iter_),
                "clusters": len(fitted.cluster_centers_),
                "ari": adjusted_rand_score(y, fitted.labels_),
            }
        )
    return rows


BANDWIDTHS = {
    "Scott": {"bandwidth": "scott"},
    "plug-in, deriv_order=1": {"bandwidth": "plugin", "deriv_order": 1},
}


def bandwidth_rows(X, y):
    """ModeClustering with each bandwidth and two minimum cluster sizes."""
    rows = []
    for name, params in BANDWIDTHS.items():
        select_seconds, kde = timed(lambda p=params: GaussianKDE(**p).fit(X), 1)
        for min_size in (1, 0.01):
            estimator = ModeClustering(
                GaussianKDE(kde.covariance_), min_cluster_size=min_size
            )
            seconds, fitted = timed(lambda e=estimator: e.fit(X), 1)
            rows.append(
                {
                    "bandwidth": name,
                    "select": select_seconds,
                    "min_size": min_size if min_size == 1 else "1% of n",
                    "seconds": seconds,
                    "clusters": len(fitted.cluster_centers_),
                    "ari": adjusted_rand_score(y, fitted.labels_),
                }
            )
    return rows


def format_bandwidths(n, rows):
    lines = [
        f"n = {n}, ModeClustering by bandwidth",
        "",
        "| bandwidth | selection (s) | min_cluster_size | clustering (s) | "
        "clusters | ARI |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['bandwidth']} | {r['select']:.2f} | {r['min_size']} "
            f"| {r['seconds']:.2f} | {r['clusters']} | {r['ari']:.3f} |"
        )
    return lines


def ascent_rows(X, repeat):
    """find_modes from every point, both methods, both tolerances, both KDEs.

    The scipy-Scott KDE's mean shift is slow (its kernel is stretched along
    the blobs), so its rows run once.
    """
    kdes = [
        ("per-feature Scott", GaussianKDE(per_feature_scott(X)).fit(X), repeat),
        ("scipy Scott, full H", GaussianKDE().fit(X), 1),
    ]
    rows = []
    for name, kde, n_repeat in kdes:
        for tol in (1e-3, 1e-8):
            for method in ("mean-shift", "newton"):
                seconds, result = timed(
                    lambda m=method, t=tol, k=kde: find_modes(k, X, method=m, tol=t),
                    n_repeat,
                )
                rows.append(
                    {
                        "kde": name,
                        "tol": tol,
                        "method": method,
                        "seconds": seconds,
                        "mean_iter": result.n_iter.mean(),
                        "max_iter": int(result.n_iter.max()),
                        "modes": len(result.modes),
                    }
                )
    return rows


def dataset_rows(repeat):
    """The 5-D blobs, iris and wine: defaults, prominence, plug-in bandwidth."""
    datasets = {
        "4 blobs, 5-D, n = 5000": make_blobs(
            5000, n_features=5, centers=4, random_state=RANDOM_STATE
        ),
        "iris (4-D, n = 150)": load_iris(return_X_y=True),
        "wine (13-D, n = 178)": load_wine(return_X_y=True),
    }
    estimators = {
        "sklearn MeanShift(bin_seeding=True)": lambda: MeanShift(bin_seeding=True),
        "ModeClustering()": ModeClustering,
        "ModeClustering(min_prominence=1)": lambda: ModeClustering(min_prominence=1),
        "ModeClustering(GaussianKDE('plugin', deriv_order=1))": lambda: ModeClustering(
            GaussianKDE("plugin", deriv_order=1)
        ),
    }
    rows = []
    for data_name, (X, y) in datasets.items():
        for name, make in estimators.items():
            try:
                seconds, fitted = timed(lambda m=make, X=X: m().fit(X), repeat)
            except ValueError as error:  # the plug-in refuses 13 features
                print(f"{data_name}, {name}: {error}")
                continue
            rows.append(
                {
                    "data": data_name,
                    "method": name,
                    "seconds": seconds,
                    "clusters": len(fitted.cluster_centers_),
                    "ari": adjusted_rand_score(y, fitted.labels_),
                    "merged": getattr(fitted, "n_merged_clusters_", None),
                }
            )
    return rows


def format_datasets(rows):
    lines = [
        "5-D blobs and real data (true classes: 4, 3, 3)",
        "",
        "| data | method | time (s) | clusters | ARI | modes merged |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        merged = "-" if r["merged"] is None else r["merged"]
        lines.append(
            f"| {r['data']} | {r['method']} | {r['seconds']:.2f} | {r['clusters']} "
            f"| {r['ari']:.3f} | {merged} |"
        )
    return lines


def format_clustering(n, rows):
    base = next(
        (r["seconds"] for r in rows if r["method"] == "sklearn MeanShift()"), None
    )
    lines = [
        f"n = {n}",
        "",
        "| method | time (s) | speed-up vs MeanShift() | n_iter_ | clusters | ARI |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{base / r['seconds']:.1f}x" if base else "-"
        lines.append(
            f"| {r['method']} | {r['seconds']:.2f} | {ratio} | {r['n_iter']} "
            f"| {r['clusters']} | {r['ari']:.3f} |"
        )
    return lines


def format_ascent(n, rows):
    lines = [
        f"n = {n}, find_modes from every point",
        "",
        "| KDE | tol | method | time (s) | mean-shift / newton time | mean iter | "
        "max iter | modes |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ms = next(
            q["seconds"]
            for q in rows
            if q["kde"] == r["kde"]
            and q["tol"] == r["tol"]
            and q["method"] == "mean-shift"
        )
        ratio = f"{ms / r['seconds']:.1f}x" if r["method"] == "newton" else "1.0x"
        lines.append(
            f"| {r['kde']} | {r['tol']:g} | {r['method']} | {r['seconds']:.2f} "
            f"| {ratio} | {r['mean_iter']:.1f} | {r['max_iter']} | {r['modes']} |"
        )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-default", action="store_true", help="skip MeanShift()")
    parser.add_argument(
        "--bandwidths-only",
        action="store_true",
        help="only the bandwidth table, written to bench_mode_clustering_bandwidths.md",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "bench_mode_clustering.md"
    )
    args = parser.parse_args()
    sizes, with_default = args.sizes, not args.no_default
    if args.bandwidths_only and args.out == RESULTS / "bench_mode_clustering.md":
        args.out = RESULTS / "bench_mode_clustering_bandwidths.md"
    if args.quick:
        sizes, with_default, args.repeat = [2000], False, 1
    header = [
        "# Mode clustering benchmark",
        "",
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"skdensity {skdensity.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}; make_blobs(n, centers=4, cluster_std=1, "
        f"random_state={RANDOM_STATE}), 2-D.",
        "",
    ]
    lines = list(header)
    for n in sizes:
        X, y = make_blobs(n, centers=4, cluster_std=1.0, random_state=RANDOM_STATE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            by_bandwidth = bandwidth_rows(X, y)
            block = format_bandwidths(n, by_bandwidth)
            if not args.bandwidths_only:
                clustering = clustering_rows(X, y, args.repeat, with_default)
                ascent = ascent_rows(X, args.repeat)
                block = (
                    format_clustering(n, clustering)
                    + [""]
                    + format_ascent(n, ascent)
                    + [""]
                    + block
                )
        print("\n".join(block) + "\n", flush=True)
        lines += block + [""]
    if not args.bandwidths_only:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            block = format_datasets(dataset_rows(args.repeat))
        print("\n".join(block) + "\n", flush=True)
        lines += block + [""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
