"""Exact Gaussian KDE and mixtures: skdensity against the anchors, side by side.

One process, the same data for everyone. For d in {1, 2, 5, 10} and
n = m in {10^3, 10^4} this times

* the floor: one (m x (d+2)) @ ((d+2) x n) product giving every squared
  distance (norms folded in) and one exp per kernel term, in cache-sized
  blocks, nothing else;
* skdensity ``GaussianKDE``: ``score_samples``, ``gradient(log=True)``,
  ``hessian(log=True)``, one thread and ``n_jobs=2``;
* ``scipy.stats.gaussian_kde``: ``evaluate`` and ``logpdf``;
* ``sklearn.neighbors.KernelDensity``: exact (``rtol=0, atol=0``; its tree
  is still built and walked) and ``rtol=1e-4``;
* ``jax.jit`` of the log-density, its ``grad`` and ``hessian`` (when jax is
  installed; XLA uses every core);
* vectorised central differences of ``score_samples`` (2d evaluations per
  gradient, 2d^2+1 per Hessian) and numdifftools (Richardson-extrapolated,
  one point at a time), both timed on a few points and extrapolated
  linearly to m;
* a 10-component ``sklearn.mixture.GaussianMixture``: its ``score_samples``
  against ``GaussianMixtureGrad.gradient`` / ``hessian``;
* peak extra memory (tracemalloc, outputs excluded);
* small calls (issue 17): m = 1, 10, 100 queries against n = 500 and 10^4
  kernels, d = 2 and 5, against scipy's ``evaluate`` and ``logpdf`` and
  ``jax.jit`` (compiled for each m before timing);
* default threads: n = m = 10^4, d = 2 and 5, ``n_jobs=None`` at the
  process's BLAS setting against the same calls under
  ``threadpool_limits(1)`` (one worker), results compared bit for bit;
* scipy.optimize: minimising -log f of a 2-D KDE (n = 2000) from 50 starts,
  trust-exact with ``objective()`` against BFGS on finite differences of
  scipy's ``logpdf``;
* wide data that are not whitened (uniform at h = 0.045, normal at h = 0.1,
  Student t3 with Scott's rule; n = 3x10^4 and 10^5, m = 10^4), against the
  floor, with and without raising the exponents whose ``exp`` would be
  subnormal (``--only-issue17`` runs these three tables alone, ``--only-wide``
  the last one).

The data are whitened to unit sample covariance, so that scipy's Scott rule,
``GaussianKDE("scott")`` and ``KernelDensity(bandwidth=scott_factor)`` are
one and the same density; the script checks that they agree.

Everything except jax and ``n_jobs=2`` runs with BLAS limited to one thread.
Times are wall-clock minima over ``--repeat`` runs; on a shared machine they
drift, so quote the ratios.

Run ``python benchmarks/bench_density.py`` (``--quick`` for a 1-minute
smoke run); the markdown tables are printed and written to
``benchmarks/results/bench_density.md`` (``--out`` to change).
"""

import argparse
import contextlib
import datetime
import gc
import platform
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity
from threadpoolctl import threadpool_info, threadpool_limits

import skdensity
from skdensity import GaussianKDE, GaussianMixtureGrad
from skdensity._core import effective_n_jobs, plan_blocks

RESULTS = Path(__file__).parent / "results"
TITLE = "Exact evaluation: skdensity against scipy, scikit-learn, jax, differences"


# ---------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------


def best_time(func, repeat, budget=20.0, min_total=0.5):
    """Smallest wall time of ``func()`` over at least ``repeat`` runs.

    Fast functions run until ``min_total`` seconds are spent (at most 100
    runs): the minimum then filters out the scheduler's time slices given to
    other processes. Slow ones stop once ``budget`` seconds are spent.
    """
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
        spent = time.perf_counter() - start
        if len(times) >= 100 or spent > budget:
            break
        if len(times) >= repeat and spent > min_total:
            break
    return min(times)


def peak_extra_mib(func):
    """Peak memory traced while ``func()`` runs, its result excluded (MiB)."""
    gc.collect()
    tracemalloc.start()
    result = func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - result.nbytes) / 2**20


# ---------------------------------------------------------------------------
# The contestants
# ---------------------------------------------------------------------------


def whitened_data(n, m, d, seed=0):
    """Training and query points with training sample covariance exactly I."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    X = rng.normal(size=(n, d)) @ A
    X -= X.mean(axis=0)
    L = np.linalg.cholesky(np.atleast_2d(np.cov(X.T)))
    X = np.linalg.solve(L, X.T).T
    Q = rng.normal(size=(m, d)) @ A
    Q = np.linalg.solve(L, (Q - Q.mean(axis=0)).T).T
    return X, Q


def floor_func(X, Q, factor):
    """One distance GEMM (norms folded in) and one exp per term, cached blocks.

    Returns a function running the best of a few block shapes for this size,
    and of the plain (k = d) and augmented (k = d + 2) products.
    """
    n, d = X.shape
    m = Q.shape[0]
    Y = Q / factor
    W = X / factor
    aug_q = np.hstack([Y, np.ones((m, 1)), -0.5 * np.sum(Y * Y, axis=1)[:, None]])
    aug_x = np.vstack([W.T, -0.5 * np.sum(W * W, axis=1), np.ones(n)])
    plan = plan_blocks(m, n, 0)
    shapes = {(plan.row_block, plan.col_block), (min(m, 512), n), (min(m, 64), n)}

    def make(rows, cols, lhs, rhs, clamp=False):
        buf = np.empty(rows * cols)

        def run():
            for c0 in range(0, n, cols):
                R = rhs[:, c0 : c0 + cols]
                for r0 in range(0, m, rows):
                    L = lhs[r0 : r0 + rows]
                    E = buf[: L.shape[0] * R.shape[1]].reshape(L.shape[0], R.shape[1])
                    np.matmul(L, R, out=E)
                    if clamp:
                        np.maximum(E, -600.0, out=E)
                    np.exp(E, out=E)

        return run

    variants = [make(r, c, aug_q, aug_x) for r, c in shapes]
    variants.append(make(plan.row_block, plan.col_block, Y, np.ascontiguousarray(W.T)))
    # Where many terms underflow (wide data), exp's slow subnormal path is
    # not arithmetic: the floor is then the clamped variant's.
    variants.append(make(plan.row_block, plan.col_block, aug_q, aug_x, clamp=True))
    return variants


def central_differences(score, Q, step=1e-4):
    """Vectorised central differences of ``score``: gradient and Hessian."""
    m, d = Q.shape
    eye = np.eye(d) * step

    def gradient():
        P = np.concatenate([Q + e for e in eye] + [Q - e for e in eye])
        f = score(P).reshape(2, d, m)
        return ((f[0] - f[1]) / (2 * step)).T

    def hessian():
        pts = [Q]
        pts += [Q + e for e in eye] + [Q - e for e in eye]
        pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
        for i, j in pairs:
            pts += [
                Q + eye[i] + eye[j],
                Q + eye[i] - eye[j],
                Q - eye[i] + eye[j],
                Q - eye[i] - eye[j],
            ]
        f = score(np.concatenate(pts)).reshape(-1, m)
        H = np.empty((m, d, d))
        for i in range(d):
            H[:, i, i] = (f[1 + i] - 2 * f[0] + f[1 + d + i]) / step**2
        for p, (i, j) in enumerate(pairs):
            a, b, c, e = f[1 + 2 * d + 4 * p : 5 + 2 * d + 4 * p]
            H[:, i, j] = H[:, j, i] = (a - b - c + e) / (4 * step**2)
        return H

    return gradient, hessian


def jax_functions(kde, batch):
    """jit-compiled log-density, gradient and Hessian of the same mixture."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    U = jnp.asarray(kde.precision_cholesky_)
    centres = jnp.asarray(kde.X_fit_ @ kde.precision_cholesky_)
    log_w = jnp.asarray(np.log(kde.weights_)) - 0.5 * jnp.sum(centres**2, axis=1)
    log_norm = float(np.log(np.diag(kde.precision_cholesky_)).sum()) - 0.5 * (
        kde.n_features_in_ * np.log(2 * np.pi)
    )

    def log_f(x):
        y = x @ U
        return logsumexp(centres @ y + log_w) - 0.5 * y @ y + log_norm

    def batched(f):
        return jax.jit(lambda Q: jax.lax.map(f, Q, batch_size=batch))

    fns = {
        "logpdf": batched(log_f),
        "gradient": batched(jax.grad(log_f)),
        "hessian": batched(jax.hessian(log_f)),
    }
    return {
        k: (lambda Q, f=f: np.asarray(f(Q).block_until_ready())) for k, f in fns.items()
    }


# ---------------------------------------------------------------------------
# One configuration
# ---------------------------------------------------------------------------


def interleaved(funcs, rounds, slow=1.0):
    """Minimum wall time of each function over ``rounds`` interleaved rounds.

    Interleaving shares out the machine's drift between contestants; a
    function slower than ``slow`` seconds runs in two rounds only.
    """
    best = dict.fromkeys(funcs, np.inf)
    runs = dict.fromkeys(funcs, 0)
    for _ in range(rounds):
        for name, func in funcs.items():
            if runs[name] >= 2 and best[name] > slow:
                continue
            best[name] = min(best[name], best_time(func, 1, min_total=0.2))
            runs[name] += 1
    return best


def run_config(d, n, args):
    X, Q = whitened_data(n, n, d, seed=d)
    m = Q.shape[0]
    kde = GaussianKDE("scott").fit(X)
    kde2 = GaussianKDE("scott", n_jobs=2).fit(X)
    factor = kde.factor_
    sp = stats.gaussian_kde(X.T)
    kd_exact = KernelDensity(bandwidth=factor, rtol=0, atol=0).fit(X)
    kd_rtol = KernelDensity(bandwidth=factor, rtol=1e-4).fit(X)
    with warnings.catch_warnings():
        # Five EM steps are enough for a timing: the fit is not what is timed.
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixtureGrad(10, random_state=0, max_iter=5, tol=0).fit(X)
        gm_sk = GaussianMixture(10, random_state=0, max_iter=5, tol=0).fit(X)
    r = {"d": d, "n": n}

    with threadpool_limits(limits=1, user_api="blas"):
        single = {f"floor{i}": f for i, f in enumerate(floor_func(X, Q, factor))}
        single.update(
            score=lambda: kde.score_samples(Q),
            grad=lambda: kde.gradient(Q, log=True),
            hess=lambda: kde.hessian(Q, log=True),
            sp_eval=lambda: sp.evaluate(Q.T),
            sp_logpdf=lambda: sp.logpdf(Q.T),
            kd_exact=lambda: kd_exact.score_samples(Q),
            kd_rtol=lambda: kd_rtol.score_samples(Q),
            gmm_score=lambda: gm_sk.score_samples(Q),
            gmm_grad=lambda: gm.gradient(Q, log=True),
            gmm_hess=lambda: gm.hessian(Q, log=True),
        )
        times = interleaved(single, args.repeat)
        r["floor"] = min(t for k, t in times.items() if k.startswith("floor"))
        r.update({k: t for k, t in times.items() if not k.startswith("floor")})

        # The same density, three ways.
        ref = kde.score_samples(Q)
        scale = np.abs(ref).max()
        r["agree_scipy"] = np.abs(sp.logpdf(Q.T) - ref).max() / scale
        r["agree_kd"] = np.abs(kd_exact.score_samples(Q) - ref).max() / scale

        # Finite differences on a few points, extrapolated linearly to m.
        n_fd = max(ROW_MIN, min(m, args.fd_points // (2 * d * d + 1)))
        fd_grad, fd_hess = central_differences(kde.score_samples, Q[:n_fd])
        r["fd_grad"] = best_time(fd_grad, args.repeat) * m / n_fd
        r["fd_hess"] = best_time(fd_hess, args.repeat) * m / n_fd
        r["fd_points"] = n_fd
        if not args.no_numdifftools:
            r.update(numdifftools_times(kde, Q, args))

        # Peak extra memory.
        r["mem_score"] = peak_extra_mib(lambda: kde.score_samples(Q))
        r["mem_grad"] = peak_extra_mib(lambda: kde.gradient(Q, log=True))
        r["mem_hess"] = peak_extra_mib(lambda: kde.hessian(Q, log=True))

    # Two threads: skdensity's n_jobs=2 (joblib threads over query chunks,
    # BLAS single-threaded), against itself on one thread and against jax,
    # whose XLA runtime uses every core.
    multi = {
        "score1": lambda: kde.score_samples(Q),
        "hess1": lambda: kde.hessian(Q, log=True),
        "score2": lambda: kde2.score_samples(Q),
        "grad2": lambda: kde2.gradient(Q, log=True),
        "hess2": lambda: kde2.hessian(Q, log=True),
    }
    batch = max(1, min(m, 2**22 // (8 * n)))
    jx = None if args.no_jax else jax_functions(kde, batch)
    if jx is not None:
        for key, f in jx.items():
            f(Q)  # compile
            multi[f"jax_{key}"] = lambda f=f: f(Q)
        r["agree_jax"] = np.abs(jx["logpdf"](Q) - ref).max() / scale
    times = interleaved(multi, args.repeat)
    r.update({k: t for k, t in times.items() if k.startswith("jax")})
    r.update(score2=times["score2"], grad2=times["grad2"], hess2=times["hess2"])
    r["par_score"] = times["score1"] / times["score2"]
    r["par_hess"] = times["hess1"] / times["hess2"]
    return r


#: Fewest points the finite-difference and numdifftools timings use.
ROW_MIN = 2


def numdifftools_times(kde, Q, args):
    try:
        import numdifftools as nd
    except ImportError:
        return {}
    m = Q.shape[0]

    def log_f(x):
        return kde.score_samples(x[None, :])[0]

    grad, hess = nd.Gradient(log_f), nd.Hessian(log_f)
    k = args.nd_points
    t_g = best_time(lambda: [grad(x) for x in Q[:k]], 1)
    t_h = best_time(lambda: [hess(x) for x in Q[:k]], 1)
    return {"nd_grad": t_g * m / k, "nd_hess": t_h * m / k, "nd_points": k}


# ---------------------------------------------------------------------------
# Small calls, scipy.optimize, wide data (issue 17)
# ---------------------------------------------------------------------------


def small_call_rows(args):
    """m = 1, 10, 100 queries against n = 500 and 10^4 kernels, d = 2 and 5."""
    rows = []
    for n in (500, 10_000):
        for d in (2, 5):
            X, Q = whitened_data(n, 100, d, seed=d)
            kde = GaussianKDE("scott").fit(X)
            sp = stats.gaussian_kde(X.T)
            for m in (1, 10, 100):
                q = Q[:m]
                floors = floor_func(X, q, kde.factor_)
                funcs = {
                    "floor": lambda fl=floors: [f() for f in fl[:1]],
                    "score": lambda q=q, k=kde: k.score_samples(q),
                    "grad": lambda q=q, k=kde: k.gradient(q, log=True),
                    "hess": lambda q=q, k=kde: k.hessian(q, log=True),
                    "sp_eval": lambda q=q, s=sp: s.evaluate(q.T),
                    "sp_logpdf": lambda q=q, s=sp: s.logpdf(q.T),
                }
                jx = None if args.no_jax else jax_functions(kde, m)
                if jx is not None:
                    for key, f in jx.items():
                        f(q)  # compiled here, not in the timing
                        funcs[f"jax_{key}"] = lambda f=f, q=q: f(q)
                with threadpool_limits(limits=1, user_api="blas"):
                    t = interleaved(funcs, args.repeat)
                rows.append({"n": n, "d": d, "m": m, **t})
    return rows


def default_thread_rows(args):
    """n = m = 10^4, d = 2 and 5: the default n_jobs at the process's BLAS
    setting against the same calls limited to one thread (one worker)."""
    rows = []
    for d in (2, 5):
        X, Q = whitened_data(args.thread_size, args.thread_size, d, seed=d)
        kde = GaussianKDE("scott").fit(X)
        funcs = {
            "score": lambda k=kde, q=Q: k.score_samples(q),
            "grad": lambda k=kde, q=Q: k.gradient(q, log=True),
            "hess": lambda k=kde, q=Q: k.hessian(q, log=True),
        }
        best = {}
        for _ in range(args.repeat):
            t = {k: v for k, v in interleaved(funcs, 1).items()}
            with threadpool_limits(limits=1, user_api="blas"):
                t.update({f"{k}_1": v for k, v in interleaved(funcs, 1).items()})
            best = {k: min(best.get(k, np.inf), v) for k, v in t.items()}
        with threadpool_limits(limits=1, user_api="blas"):
            single = [f() for f in funcs.values()]
        same = all(
            np.array_equal(f(), ref)
            for f, ref in zip(funcs.values(), single, strict=True)
        )
        workers = effective_n_jobs(None)
        rows.append({"d": d, "n": args.thread_size, "workers": workers, **best})
        rows[-1]["same"] = same
    return rows


def optimize_row(args, n=2000, starts=50):
    """Minimise -log f of a 2-D KDE from 50 starts: trust-exact with the
    analytic jac/hess of ``objective()`` against finite-difference BFGS on
    scipy's logpdf."""
    from scipy.optimize import minimize

    X, _ = whitened_data(n, 1, 2, seed=7)
    kde = GaussianKDE("scott").fit(X)
    sp = stats.gaussian_kde(X.T)
    x0 = X[np.random.default_rng(0).choice(n, starts, replace=False)] + 0.1

    def ours():
        fun, jac, hess = kde.objective()
        return [minimize(fun, x, jac=jac, hess=hess, method="trust-exact") for x in x0]

    def anchor():
        return [minimize(lambda x: -sp.logpdf(x)[0], x, method="BFGS") for x in x0]

    with threadpool_limits(limits=1, user_api="blas"):
        t = interleaved({"ours": ours, "anchor": anchor}, args.repeat)
    gap = max(
        abs(a.fun - b.fun) for a, b in zip(ours(), anchor(), strict=True)
    )  # same modes reached, same objective
    return {"n": n, "starts": starts, **t, "gap": gap}


def wide_data(kind, n, d=2, seed=0):
    """Data spread over many bandwidths, and the bandwidth used: uniform on a
    square at h = 0.045 (22 bandwidths to the edge, one frame), Gaussian at
    h = 0.1 (spatial groups), Student t with 3 degrees of freedom, Scott."""
    rng = np.random.default_rng(seed)
    if kind == "uniform, h=0.045":
        return rng.uniform(-1, 1, size=(n, d)), 0.045
    if kind == "normal, h=0.1":
        return rng.normal(size=(n, d)), 0.1
    return rng.standard_t(3, size=(n, d)), "scott"


def wide_rows(args):
    """score_samples on data that are not whitened, n up to 10^5, m = 10^4,
    against the floor, with and without raising the low exponents."""
    from skdensity._core import _shared

    rows = []
    for kind in ("uniform, h=0.045", "normal, h=0.1", "t3, scott"):
        for n in args.wide_sizes:
            X, h = wide_data(kind, n)
            Q, _ = wide_data(kind, args.wide_queries, seed=1)
            kde = GaussianKDE(h).fit(X)
            U = kde.precision_cholesky_
            floors = floor_func(X @ U, Q @ U, 1.0)

            def unraised(kde=kde, Q=Q, slow=_shared._SLOW_EXPONENT):
                _shared._SLOW_EXPONENT = -np.inf
                try:
                    return kde.score_samples(Q)
                finally:
                    _shared._SLOW_EXPONENT = slow

            funcs = {f"floor{i}": f for i, f in enumerate(floors)}
            funcs.update(score=lambda k=kde, q=Q: k.score_samples(q), unraised=unraised)
            with (
                threadpool_limits(limits=1, user_api="blas"),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore", RuntimeWarning)  # the floor's exp
                t = interleaved(funcs, max(1, args.repeat - 1))
            floor = min(v for k, v in t.items() if k.startswith("floor"))
            groups = kde._get_mixture().n_groups
            rows.append({"kind": kind, "n": n, "groups": groups, "floor": floor, **t})
    return rows


def small_tables(small, opt, wide, threads=()):
    out = []
    if small:
        out.append(
            "\n## Small calls: time, and the anchor's over ours (scipy over our "
            "score_samples, jax over the same quantity; above 1: ours is faster)\n"
        )
        has_jax = "jax_logpdf" in small[0]
        head = ["n", "d", "m", "floor", "score_samples", "gradient", "Hessian"]
        head += ["scipy evaluate", "scipy logpdf"]
        if has_jax:
            head += ["jax log f", "jax gradient", "jax Hessian"]
        out += [_row(head), _row(["---"] * len(head))]
        for r in small:
            cells = [r["n"], r["d"], r["m"], fmt_t(r["floor"]), fmt_t(r["score"])]
            cells += [fmt_t(r["grad"]), fmt_t(r["hess"])]
            cells += [
                f"{fmt_t(r['sp_eval'])} ({fmt_r(r['sp_eval'], r['score'])})",
                f"{fmt_t(r['sp_logpdf'])} ({fmt_r(r['sp_logpdf'], r['score'])})",
            ]
            if has_jax:
                for key, ours in (("logpdf", "score"), ("gradient", "grad")):
                    cells.append(
                        f"{fmt_t(r['jax_' + key])} ({fmt_r(r['jax_' + key], r[ours])})"
                    )
                cells.append(
                    f"{fmt_t(r['jax_hessian'])} ({fmt_r(r['jax_hessian'], r['hess'])})"
                )
            out.append(_row(cells))
    if threads:
        out.append(
            "\n## Default threads: n_jobs=None at the process's BLAS setting "
            "against one thread (threadpool_limits(1)), speed-up in brackets\n"
        )
        head = ["d", "n = m", "workers", "score_samples", "gradient", "Hessian"]
        head += ["bit-identical"]
        out += [_row(head), _row(["---"] * len(head))]
        for r in threads:
            cells = [r["d"], r["n"], r["workers"]]
            cells += [
                f"{fmt_t(r[k])} ({fmt_r(r[k + '_1'], r[k])})"
                for k in ("score", "grad", "hess")
            ]
            out.append(_row([*cells, "yes" if r["same"] else "NO"]))
    if opt:
        out.append("\n## scipy.optimize: -log f of a 2-D KDE from 50 starts\n")
        head = ["n", "trust-exact, objective()", "BFGS, differences of scipy logpdf"]
        head += ["anchor / ours", "max |fun difference|"]
        out += [_row(head), _row(["---"] * len(head))]
        out.append(
            _row(
                [
                    opt["n"],
                    fmt_t(opt["ours"]),
                    fmt_t(opt["anchor"]),
                    fmt_r(opt["anchor"], opt["ours"]),
                    f"{opt['gap']:.0e}",
                ]
            )
        )
    if wide:
        out.append("\n## Wide data (not whitened), d = 2, m = 10^4 queries\n")
        head = ["data", "n", "groups", "floor", "score_samples", "/ floor"]
        head += ["exponents not raised", "/ floor"]
        out += [_row(head), _row(["---"] * len(head))]
        for r in wide:
            out.append(
                _row(
                    [
                        r["kind"],
                        r["n"],
                        r["groups"],
                        fmt_t(r["floor"]),
                        fmt_t(r["score"]),
                        fmt_r(r["score"], r["floor"]),
                        fmt_t(r["unraised"]),
                        fmt_r(r["unraised"], r["floor"]),
                    ]
                )
            )
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def fmt_t(t):
    if t is None or not np.isfinite(t):
        return "-"
    if t >= 1:
        return f"{t:.2f} s"
    return f"{t * 1e3:.1f} ms" if t >= 1e-3 else f"{t * 1e6:.0f} us"


def fmt_r(a, b):
    """``a / b`` as a ratio."""
    if a is None or b is None:
        return "-"
    x = a / b
    return f"{x:.0f}x" if x >= 100 else f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def tables(rows, has_jax, has_nd):
    out = []
    out.append("## Log-density: time, and how many times slower than skdensity\n")
    head = [
        "d",
        "n = m",
        "floor",
        "skdensity",
        "skdensity / floor",
        "scipy evaluate",
        "scipy logpdf",
        "KD exact",
        "KD rtol=1e-4",
    ]
    head.append("skdensity, 2 threads")
    if has_jax:
        head.append("jax.jit (2 threads)")
    out += [_row(head), _row(["---"] * len(head))]
    for r in rows:
        s = r["score"]
        cells = [
            r["d"],
            r["n"],
            fmt_t(r["floor"]),
            fmt_t(s),
            fmt_r(s, r["floor"]),
            f"{fmt_t(r['sp_eval'])} ({fmt_r(r['sp_eval'], s)})",
            f"{fmt_t(r['sp_logpdf'])} ({fmt_r(r['sp_logpdf'], s)})",
            f"{fmt_t(r['kd_exact'])} ({fmt_r(r['kd_exact'], s)})",
            f"{fmt_t(r['kd_rtol'])} ({fmt_r(r['kd_rtol'], s)})",
        ]
        cells.append(fmt_t(r["score2"]))
        if has_jax:
            jax_t = r.get("jax_logpdf")
            cells.append(f"{fmt_t(jax_t)} ({fmt_r(jax_t, r['score2'])})")
        out.append(_row(cells))

    out.append("\n## Derivatives of log f: cost relative to skdensity\n")
    head = ["d", "n = m", "gradient", "Hessian", "grad / score", "Hess / score"]
    head += ["central diff. grad", "central diff. Hess"]
    if has_nd:
        head += ["numdifftools grad", "numdifftools Hess"]
    if has_jax:
        head += ["jax grad (2 threads)", "jax Hess (2 threads)"]
    out += [_row(head), _row(["---"] * len(head))]
    for r in rows:
        g, h = r["grad"], r["hess"]
        cells = [
            r["d"],
            r["n"],
            fmt_t(g),
            fmt_t(h),
            fmt_r(g, r["score"]),
            fmt_r(h, r["score"]),
            fmt_r(r["fd_grad"], g),
            fmt_r(r["fd_hess"], h),
        ]
        if has_nd:
            cells += [fmt_r(r.get("nd_grad"), g), fmt_r(r.get("nd_hess"), h)]
        if has_jax:
            cells += [
                fmt_r(r.get("jax_gradient"), r["grad2"]),
                fmt_r(r.get("jax_hessian"), r["hess2"]),
            ]
        out.append(_row(cells))

    out.append("\n## 10-component GaussianMixture, memory, two threads\n")
    head = [
        "d",
        "n = m",
        "GMM score_samples (sklearn)",
        "GMM gradient / sklearn score",
        "GMM Hessian / sklearn score",
        "peak MiB score / grad / Hess",
        "2-thread speed-up score / Hess",
        "max rel. diff. scipy / KD / jax",
    ]
    out += [_row(head), _row(["---"] * len(head))]
    for r in rows:
        agree = [f"{r['agree_scipy']:.0e}", f"{r['agree_kd']:.0e}"]
        agree.append(f"{r['agree_jax']:.0e}" if "agree_jax" in r else "-")
        cells = [
            r["d"],
            r["n"],
            fmt_t(r["gmm_score"]),
            fmt_r(r["gmm_grad"], r["gmm_score"]),
            fmt_r(r["gmm_hess"], r["gmm_score"]),
            f"{r['mem_score']:.1f} / {r['mem_grad']:.1f} / {r['mem_hess']:.1f}",
            f"{r['par_score']:.2f} / {r['par_hess']:.2f}",
            " / ".join(agree),
        ]
        out.append(_row(cells))
    return "\n".join(out) + "\n"


def _row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(args, elapsed):
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    blas = ", ".join(f"{i['internal_api']} {i['version']}" for i in blas[:1])
    versions = [
        f"skdensity {skdensity.__version__}",
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        f"scikit-learn {sklearn.__version__}",
    ]
    for name in ("jax", "numdifftools"):
        with contextlib.suppress(ImportError):
            versions.append(f"{name} {__import__(name).__version__}")
    return (
        f"Run {datetime.datetime.now():%Y-%m-%d %H:%M}, `{' '.join(sys.argv)}`, "
        f"{elapsed:.0f} s. {platform.processor() or platform.machine()}, "
        f"{platform.python_version()}, BLAS {blas}; {', '.join(versions)}.\n"
        f"Wall-clock minimum of {args.repeat} runs; BLAS limited to one thread "
        "except for jax (all cores) and the two-thread column. Finite differences "
        f"(on up to {args.fd_points} evaluation points) and numdifftools (on "
        f"{args.nd_points} points) are extrapolated linearly to m points.\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 run")
    parser.add_argument("--dims", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fd-points", type=int, default=40_000)
    parser.add_argument("--nd-points", type=int, default=3)
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--no-numdifftools", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_density.md")
    parser.add_argument(
        "--only-issue17",
        action="store_true",
        help="only the small-call, scipy.optimize and wide-data tables",
    )
    parser.add_argument(
        "--only-wide", action="store_true", help="only the wide-data table"
    )
    parser.add_argument("--wide-sizes", type=int, nargs="+", default=[30_000, 100_000])
    parser.add_argument("--wide-queries", type=int, default=10_000)
    parser.add_argument("--thread-size", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat, args.fd_points = [1000, 3000], 1, 10_000
        args.nd_points = 2
        args.wide_sizes, args.wide_queries = [10_000], 2000
        args.thread_size = 3000
    has_jax = not args.no_jax and _importable("jax")
    has_nd = not args.no_numdifftools and _importable("numdifftools")
    args.no_jax, args.no_numdifftools = not has_jax, not has_nd
    start = time.perf_counter()
    rows = []
    for n in [] if args.only_issue17 or args.only_wide else args.sizes:
        for d in args.dims:
            rows.append(run_config(d, n, args))
            print(
                f"d={d} n=m={n} done ({time.perf_counter() - start:.0f} s)", flush=True
            )
    small, opt, threads = [], None, []
    if not args.only_wide:
        small, opt = small_call_rows(args), optimize_row(args)
        threads = default_thread_rows(args)
        print(f"small calls done ({time.perf_counter() - start:.0f} s)", flush=True)
    wide = wide_rows(args)
    text = header(args, time.perf_counter() - start) + "\n"
    if rows:
        text += tables(rows, has_jax, has_nd)
    text += small_tables(small, opt, wide, threads)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# {TITLE}\n\n" + text)
    print(f"written to {args.out}")


def _importable(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
