"""Approximate GaussianKDE paths against exact evaluation and the usual anchors.

Issue 6: n = 1e5 and 1e6 kernels in 2-D, 1e5 queries; time and largest
relative error of each path, side by side with scipy.stats.gaussian_kde,
sklearn.neighbors.KernelDensity(rtol=1e-4) and KDEpy's FFTKDE (if installed:
``pip install ".[bench]"``). Slow methods are timed on a subsample of the
queries and scaled linearly (marked "scaled"). Everything uses one isotropic
bandwidth h (the data are linearly whitened first, so that scipy's
``factor * covariance`` is ``h**2 I`` too).

Errors are measured on a reference subsample of queries against the exact
path, where the density is not negligible (f >= 1e-3 max f): relative error of
f, and of the gradient in bandwidth units, ``h |grad f~ - grad f| / f``.

Run: ``python benchmarks/bench_approximate.py [--sizes 1e5 1e6] [--queries 1e5]``.
Times depend on the machine and its load; read the ratios.
"""

import argparse
import time

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.stats import gaussian_kde
from sklearn.neighbors import KernelDensity

from skdensity import GaussianKDE

RTOL = 1e-4


def make_data(n, rng):
    """A curved ridge plus two blobs, whitened to identity sample covariance."""
    k = n // 2
    t = rng.normal(size=k)
    ridge = np.column_stack([t, 0.5 * t**2 + 0.2 * rng.normal(size=k)])
    blobs = rng.normal(size=(n - k, 2)) * 0.3 + rng.choice([[-2, 2.5], [2, 3]], n - k)
    X = np.vstack([ridge, blobs])
    X -= X.mean(axis=0)
    L = np.linalg.cholesky(np.cov(X, rowvar=False))
    return np.linalg.solve(L, X.T).T


def timed(func, *args):
    start = time.perf_counter()
    out = func(*args)
    return out, time.perf_counter() - start


def errors(log_f, grad, ref_log_f, ref_grad, h, mask):
    """Max relative error of f, and of grad f in bandwidth units, on ``mask``."""
    f, ref_f = np.exp(log_f), np.exp(ref_log_f)
    e_f = np.max(np.abs(f[mask] - ref_f[mask]) / ref_f[mask])
    if grad is None:
        return e_f, np.nan
    e_g = np.max(h * np.linalg.norm(grad[mask] - ref_grad[mask], axis=1) / ref_f[mask])
    return e_f, e_g


def density_and_gradient(kde, Q):
    return kde.score_samples(Q), kde.gradient(Q)


def run(n, n_queries, n_ref, rng, rows):
    X = make_data(n, rng)
    Q = make_data(n_queries, rng)
    h = n ** (-1 / 6)  # Scott's factor in 2-D, on whitened data
    ref_idx = rng.choice(n_queries, n_ref, replace=False)
    Qr = Q[ref_idx]

    exact = GaussianKDE(bandwidth=h).fit(X)
    (ref_log_f, ref_grad_log), t_exact = timed(
        lambda: (exact.score_samples(Qr), exact.gradient(Qr, log=True))
    )
    ref_grad = np.exp(ref_log_f)[:, None] * ref_grad_log
    mask = ref_log_f >= ref_log_f.max() + np.log(1e-3)
    scale = n_queries / n_ref
    rows.append(
        (n, "GaussianKDE exact (f + grad)", 0.0, t_exact * scale, 0, 0, "scaled")
    )
    t_exact_full = t_exact * scale

    def add(name, fit_time, eval_time, log_f, grad, note=""):
        e_f, e_g = errors(log_f, grad, ref_log_f, ref_grad, h, mask)
        rows.append((n, name, fit_time, eval_time, e_f, e_g, note))

    for algorithm, rtol in (("binned", RTOL), ("binned", 1e-2), ("tree", RTOL)):
        kde, t_fit = timed(
            lambda a=algorithm, r=rtol: GaussianKDE(
                bandwidth=h, algorithm=a, rtol=r
            ).fit(X)
        )
        if algorithm == "binned":
            _, t_eval = timed(density_and_gradient, kde, Q)
            note = ""
        else:
            # A random tenth of the queries: blocks hold a tenth of the
            # queries they would, so the scaled time is pessimistic.
            sub = Q[: n_queries // 10]
            _, t_eval = timed(density_and_gradient, kde, sub)
            t_eval *= n_queries / len(sub)
            note = "scaled"
        log_f, grad = density_and_gradient(kde, Qr)
        name = f"GaussianKDE {algorithm} rtol={rtol:g} (f + grad)"
        add(name, t_fit, t_eval, log_f, grad, note)

    sub = Qr[: max(50, n_ref // 10)]
    kde, t_fit = timed(gaussian_kde, X.T, h)
    log_f, t_eval = timed(kde.logpdf, sub.T)
    e_f = np.max(np.abs(np.expm1(log_f - ref_log_f[: len(sub)]))[mask[: len(sub)]])
    rows.append(
        (
            n,
            "scipy gaussian_kde (f)",
            t_fit,
            t_eval * n_queries / len(sub),
            e_f,
            np.nan,
            "scaled",
        )
    )

    kd, t_fit = timed(KernelDensity(bandwidth=h, rtol=RTOL).fit, X)
    log_f, t_eval = timed(kd.score_samples, Qr)
    add(
        "sklearn KernelDensity rtol=1e-4 (f)",
        t_fit,
        t_eval * scale,
        log_f,
        None,
        "scaled",
    )

    try:
        from KDEpy import FFTKDE
    except ImportError:  # optional anchor: pip install ".[bench]"
        FFTKDE = None
    for size in (512, 2048, 4096) if FFTKDE is not None else ():

        def kdepy(size=size):
            lo, hi = X.min(axis=0) - 8 * h, X.max(axis=0) + 8 * h
            axes = [np.linspace(lo[j], hi[j], size) for j in range(2)]
            grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
            values = FFTKDE(kernel="gaussian", bw=h).fit(X).evaluate(grid)
            return RegularGridInterpolator(axes, values.reshape(size, size))

        interp, t_fit = timed(kdepy)
        f, t_eval = timed(interp, Q)
        with np.errstate(divide="ignore"):
            add(
                f"KDEpy FFTKDE {size}^2 grid + linear interp (f)",
                t_fit,
                t_eval,
                np.log(interp(Qr)),
                None,
            )
    return t_exact_full


def mode_clustering(n, rng):
    from skdensity import ModeClustering

    X = make_data(n, rng)
    model = ModeClustering(GaussianKDE(algorithm="binned", rtol=RTOL))
    _, seconds = timed(model.fit, X)
    return seconds, len(model.cluster_centers_)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--queries", type=float, default=1e5)
    parser.add_argument("--reference", type=int, default=1000)
    parser.add_argument("--modes", type=float, default=1e5, help="0 to skip")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        run(int(n), int(args.queries), args.reference, rng, rows)

    print(f"\n{int(args.queries)} queries, 2-D; errors where f >= 1e-3 max f\n")
    print(
        "| n | method | fit (s) | evaluate (s) | speed-up vs exact "
        "| max rel err f | max rel err grad |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        here = [r for r in rows if r[0] == int(n)]
        exact_time = here[0][3]
        for _, name, t_fit, t_eval, e_f, e_g, note in here:
            star = " (scaled)" if note else ""
            ratio = exact_time / (t_fit + t_eval)
            print(
                f"| {int(n):.0e} | {name} | {t_fit:.2f} | {t_eval:.3g}{star} | "
                f"{ratio:.3g} | {e_f:.1e} | {e_g:.1e} |"
            )
    if args.modes:
        seconds, k = mode_clustering(int(args.modes), rng)
        print(
            f"\nModeClustering(GaussianKDE(algorithm='binned')) on {int(args.modes)} "
            f"2-D points: {seconds:.1f} s, {k} clusters"
        )


if __name__ == "__main__":
    main()
