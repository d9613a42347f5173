"""Time the bandwidth selectors against R ks (exact, binned = FALSE), 2-D.

``plugin-binned`` is compared with ks's ``Hpi(binned = TRUE)``.

Usage: python benchmarks/bench_bandwidth.py [n ...] [--selectors plugin scv lscv]
                                             [--ks plugin scv lscv]

``--ks`` names the selectors also timed in R (all by default; ks's exact
selectors grow like n^2 per criterion evaluation, minutes at n = 10^4).

Data: a two-component normal mixture (seeded), written to a temporary CSV so
that R reads the same values. R ks is timed through Rscript when installed;
the relative Frobenius difference of the two matrices is printed too.
"""

import argparse
import functools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from skdensity.bandwidth import lscv_bandwidth, plugin_bandwidth, scv_bandwidth

OURS = {
    "plugin": plugin_bandwidth,
    "plugin-binned": functools.partial(plugin_bandwidth, binned=True),
    "scv": scv_bandwidth,
    "lscv": lscv_bandwidth,
}
R_CALL = {
    "plugin": "Hpi(x, binned = FALSE)",
    "plugin-binned": "Hpi(x, binned = TRUE)",
    "scv": "Hscv(x, binned = FALSE)",
    "lscv": "Hlscv(x, binned = FALSE)",
}


def _data(n):
    rng = np.random.default_rng(0)
    half = n // 2
    a = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=half)
    b = rng.multivariate_normal([3, 1], [[0.5, -0.2], [-0.2, 0.4]], size=n - half)
    return np.vstack([a, b])


def _time_r(path, selector):
    script = (
        f"suppressMessages(library(ks)); x <- as.matrix(read.csv('{path}'));"
        f"t <- system.time(H <- {R_CALL[selector]})[['elapsed']];"
        "cat(jsonlite::toJSON(list(t = t, H = H), digits = NA))"
    )
    out = subprocess.run(
        ["Rscript", "-e", script], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    return float(np.ravel(result["t"])[0]), np.array(result["H"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--selectors", nargs="+", default=list(OURS))
    parser.add_argument("--ks", nargs="*", default=list(OURS))
    args = parser.parse_args()
    have_r = shutil.which("Rscript") is not None
    print("| n | selector | skdensity (s) | ks (s) | ratio | rel. Frobenius diff |")
    print("|---|---|---|---|---|---|")
    for n in args.n:
        X = _data(n)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.csv"
            np.savetxt(path, X, delimiter=",", header="a,b", comments="")
            for name in args.selectors:
                start = time.perf_counter()
                H = OURS[name](X)
                ours = time.perf_counter() - start
                if have_r and name in args.ks:
                    theirs, H_r = _time_r(path, name)
                    diff = np.linalg.norm(H - H_r) / np.linalg.norm(H_r)
                    cells = f"{theirs:.2f} | {theirs / ours:.1f}x | {diff:.1e}"
                else:
                    cells = "- | - | -"
                print(f"| {n} | {name} | {ours:.2f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
