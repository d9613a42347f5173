"""The command-line tool's commands: the estimator the options describe, and
what each command computes and writes.

scikit-learn and the estimators are imported inside the functions, so that
building the parser (``--help``) loads none of them.
"""

import math
import re
import textwrap
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from .._progress import progress_bar
from ._errors import InputError

_MAX_COMPONENTS = 10
_SELECTORS = ("scott", "silverman", "normal_scale", "plugin", "scv", "lscv")


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------


def parse_bandwidth(text):
    """A rule or selector name, a float, or comma-separated per-column floats."""
    import numpy as np

    text = text.strip().lower()
    if text in _SELECTORS:
        return text
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(
            f"--bandwidth {text!r} is not one of {', '.join(_SELECTORS)}, a number "
            f"or comma-separated numbers (one kernel standard deviation per column)."
        ) from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError(f"--bandwidth values must be positive numbers; got {text!r}.")
    return values[0] if len(values) == 1 else np.array(values)


def parse_n_components(text):
    """A positive integer, or ``"bic"`` (choose 1..10 by BIC)."""
    if text.strip().lower() == "bic":
        return "bic"
    if not text.strip().isdigit() or int(text) < 1:
        raise InputError(f"--n-components {text!r} is not a positive integer or 'bic'.")
    return int(text)


def parse_min_cluster_size(text):
    """A count (an integer >= 1) or a fraction of the rows (a float in (0, 1))."""
    if re.fullmatch(r"\s*\d+\s*", text) and int(text) >= 1:
        return int(text)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise InputError(
            f"--min-cluster-size {text!r} is neither a number of rows (an integer, "
            f"1 merges nothing) nor a fraction of them in (0, 1), e.g. 0.01."
        )
    return value


def parse_min_prominence(text):
    """A non-negative number of nats."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise InputError(
            f"--min-prominence {text!r} is not a non-negative number (in nats of "
            f"log f; 0 merges nothing)."
        )
    return value


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------


class Progress:
    """Progress on standard error: bars with counts (tqdm when installed) for
    evaluations and ascents, timed lines for the other stages.

    Enabled explicitly (``--progress``) or, by default, when standard error
    is a terminal; silent otherwise, so output files and pipes stay clean.
    """

    def __init__(self, enabled, stream=None):
        import sys

        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr

    def map_chunks(self, func, X, label, min_rows=2000):
        """``func`` on row chunks of ``X`` (a bar for ``min_rows`` and more)."""
        import numpy as np

        n = X.shape[0]
        if not self.enabled or n < min_rows:
            return func(X)
        bounds = np.linspace(0, n, min(50, math.ceil(n / 500)) + 1).astype(int)
        parts = []
        with progress_bar(n, label, unit="rows", file=self.stream) as bar:
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                parts.append(func(X[lo:hi]))
                bar.update(int(hi - lo))
        return np.concatenate(parts)

    @contextmanager
    def stage(self, label):
        """``label ... done in 0.3 s`` around a block."""
        if not self.enabled:
            yield
            return
        print(f"{label} ...", file=self.stream, flush=True)
        start = time.perf_counter()
        yield
        print(
            f"{label} ... done in {time.perf_counter() - start:.1f} s",
            file=self.stream,
            flush=True,
        )


# ---------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------


def build_estimator(args, n_features, n_components=None):
    """The density estimator the options describe (unfitted)."""
    import numpy as np

    from .. import BayesianGaussianMixtureGrad, GaussianKDE, GaussianMixtureGrad

    if args.estimator == "kde":
        bandwidth = parse_bandwidth(args.bandwidth)
        if isinstance(bandwidth, np.ndarray) and bandwidth.size != n_features:
            raise InputError(
                f"--bandwidth gives {bandwidth.size} per-column values for "
                f"{n_features} columns; give one value, or one per column."
            )
        return GaussianKDE(
            bandwidth=bandwidth, algorithm=args.algorithm, n_jobs=args.n_jobs
        )
    cls = (
        GaussianMixtureGrad if args.estimator == "gmm" else BayesianGaussianMixtureGrad
    )
    return cls(
        n_components=n_components,
        covariance_type=args.covariance_type,
        n_init=1 if args.estimator == "bgmm" else 3,
        random_state=args.random_state,
    )


def fit_estimator(args, X, progress):
    """Fit the estimator the options describe; ``--n-components bic`` picks by BIC."""
    n_components = parse_n_components(args.n_components)
    if args.estimator == "kde" or n_components != "bic":
        estimator = build_estimator(args, X.shape[1], n_components)
        with progress.stage(f"fitting {type(estimator).__name__}"):
            estimator.fit(X)
        return estimator
    if args.estimator == "bgmm":  # the variational prior prunes spare components
        estimator = build_estimator(args, X.shape[1], min(_MAX_COMPONENTS, len(X)))
        with progress.stage("fitting BayesianGaussianMixtureGrad"):
            estimator.fit(X)
        return estimator
    best = None
    for k in range(1, min(_MAX_COMPONENTS, len(X)) + 1):
        candidate = build_estimator(args, X.shape[1], k)
        with progress.stage(f"fitting GaussianMixtureGrad, {k} components"):
            bic = candidate.fit(X).bic(X)
        if best is None or bic < best[0]:
            best = (bic, candidate)
    return best[1]


def describe(estimator):
    """One line saying what was fitted."""
    from .. import GaussianKDE

    if isinstance(estimator, GaussianKDE):
        extra = "" if estimator.factor_ is None else f", factor {estimator.factor_:.4g}"
        if estimator.algorithm != "exact":
            extra += f", algorithm={estimator.algorithm!r}"
        return f"GaussianKDE(bandwidth={estimator.bandwidth!r}{extra})"
    return (
        f"{type(estimator).__name__}(n_components={estimator.n_components}, "
        f"covariance_type={estimator.covariance_type!r})"
    )


# ---------------------------------------------------------------------------
# Commands: each returns what --plot draws
# ---------------------------------------------------------------------------


def _query_points(args, table, reporter):
    """The rows to evaluate at: those of ``--at`` (same columns), else the data."""
    if args.at is None:
        return table.X
    from ._read import read_table

    at = read_table(
        args.at, None, args.delimiter, encoding=args.encoding, notify=reporter.note
    )
    if at.named:
        missing = [n for n in table.names if n not in at.names]
        if missing:
            raise InputError(
                f"--at {args.at!r} lacks the fitted column(s) "
                f"{', '.join(map(repr, missing))}; it has "
                f"{', '.join(map(repr, at.names))}."
            )
        return at.X[:, [at.names.index(n) for n in table.names]]
    if at.X.shape[1] != len(table.names):
        raise InputError(
            f"--at {args.at!r} has no header and {at.X.shape[1]} numeric columns; "
            f"the density was fitted on {len(table.names)} "
            f"({', '.join(map(repr, table.names))})."
        )
    return at.X


def cmd_score(args, table, progress, outputs, reporter):
    import numpy as np

    estimator = fit_estimator(args, table.X, progress)
    Q = _query_points(args, table, reporter)
    log_f = progress.map_chunks(estimator.score_samples, Q, "log-density")
    column = "density" if args.density else "log_density"
    values = np.exp(log_f) if args.density else log_f
    outputs.csv(args.output, [Q, values], [*table.names, column])
    return {"estimator": estimator, "queries": Q, "values": log_f}


def cmd_grad(args, table, progress, outputs, reporter):
    estimator = fit_estimator(args, table.X, progress)
    Q = _query_points(args, table, reporter)
    log = not args.density

    def gradient(rows):
        return estimator.gradient(rows, log=log)

    grad = progress.map_chunks(gradient, Q, "gradient")
    prefix = "dlogf_d" if log else "df_d"
    names = [*table.names, *(prefix + n for n in table.names)]
    outputs.csv(args.output, [Q, grad], names)
    return {"estimator": estimator, "queries": Q, "gradient": grad}


def cmd_sample(args, table, progress, outputs, reporter):
    estimator = fit_estimator(args, table.X, progress)
    drawn = estimator.sample(args.n_samples, random_state=args.random_state)
    if isinstance(drawn, tuple):  # sklearn mixtures return (X, component labels)
        drawn = drawn[0]
    outputs.csv(args.output, drawn, table.names)
    return {"estimator": estimator, "samples": drawn}


def _format_table(header, rows):
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    )


def cmd_modes(args, table, progress, outputs, reporter):
    import sys

    import numpy as np

    from .. import find_modes

    X, names = table.X, table.names
    estimator = fit_estimator(args, X, progress)
    result = find_modes(estimator, X, method=args.method, verbose=progress.enabled)
    k, d = result.modes.shape
    sizes = np.bincount(result.labels[result.labels >= 0], minlength=k)
    eig_names = [f"hess_eig_{j + 1}" for j in range(d)]
    columns = [result.modes, result.log_density, result.hessian_eigenvalues, sizes]
    if args.output is not None:
        outputs.csv(
            args.output, columns, [*names, "log_density", *eig_names, "n_points"]
        )
    # With the CSV on standard output the table goes to standard error.
    report = sys.stderr if args.output == "-" else sys.stdout
    rows = [
        [i, *(f"{v:.6g}" for v in mode), f"{lf:.6f}",
         *(f"{e:.4g}" for e in eig), size]
        for i, (mode, lf, eig, size) in enumerate(
            zip(result.modes, result.log_density, result.hessian_eigenvalues,
                sizes, strict=True)
        )
    ]  # fmt: skip
    unassigned = int(np.sum(result.labels < 0))
    note = (
        "Hessian eigenvalues are those of log f: all negative at a mode. "
        "'points' counts the rows whose ascent reached the mode"
        + (f"; {unassigned} reached none." if unassigned else ".")
    )
    lines = [
        f"{describe(estimator)} on {args.source}",
        f"{k} mode{'s' * (k != 1)} (by decreasing density), found by "
        f"'{result.method}' ascent from every row:\n",
        _format_table(["mode", *names, "log f", *eig_names, "points"], rows),
        "\n" + textwrap.fill(note, width=79),
    ]
    with np.printoptions(precision=4):
        lines += [
            f"saddle or flat point at {point}, log f {lf:.6f}, eigenvalues {eig}"
            for point, lf, eig in zip(
                result.saddle_points,
                result.saddle_log_density,
                result.saddle_hessian_eigenvalues,
                strict=True,
            )
        ]
    outputs.text(report, "\n".join(lines) + "\n")
    return {
        "estimator": estimator,
        "modes": result.modes,
        "saddles": result.saddle_points,
        "labels": result.labels,
    }


def cmd_cluster(args, table, progress, outputs, reporter):
    from sklearn.base import clone

    from .. import ModeClustering

    estimator = fit_estimator(args, table.X, progress)
    options = {"method": args.method, "verbose": progress.enabled}
    if args.min_cluster_size is not None:
        options["min_cluster_size"] = parse_min_cluster_size(args.min_cluster_size)
    if args.min_prominence is not None:
        options["min_prominence"] = parse_min_prominence(args.min_prominence)
    clusterer = ModeClustering(density=clone(estimator), **options)
    labels = clusterer.fit(table.X).labels_
    if clusterer.n_merged_clusters_:
        reporter.note(
            f"{clusterer.n_merged_clusters_} small or shallow mode(s) merged into "
            f"their neighbours ({len(clusterer.cluster_centers_)} clusters left; "
            f"see --min-cluster-size, --min-prominence)."
        )
    outputs.csv(args.output, [table.X, labels], [*table.names, "label"])
    return {
        "estimator": clusterer.density_,
        "labels": labels,
        "modes": clusterer.cluster_centers_,
    }


def cmd_ridges(args, table, progress, outputs, reporter):
    from .. import find_ridges

    if table.X.shape[1] < 2:
        raise InputError(
            "ridges need at least 2 columns (a ridge of dimension 1 to d - 1); "
            f"there is {table.X.shape[1]}. Choose more with --columns."
        )
    estimator = fit_estimator(args, table.X, progress)
    # find_ridges' own starts by default: the rows of a KDE (a subsample of
    # a large file), draws from a mixture.
    starts = {"default": None, "rows": table.X}.get(args.starts, args.starts)
    result = find_ridges(
        estimator,
        starts,
        ridge_dim=args.ridge_dim,
        method=args.ridge_method,
        hdr_prob=args.hdr_prob,
        random_state=0 if args.random_state is None else args.random_state,
        verbose=progress.enabled,
    )
    n_starts = len(result.end_points)
    dropped = n_starts - len(result.points)
    if dropped:
        reporter.note(
            f"{len(result.points)} of {n_starts} ascents ended on a ridge; "
            f"{dropped} did not converge, ended outside the {args.hdr_prob:.0%} "
            f"highest density region or where the ridge is not defined."
        )
    columns = [result.points, result.log_density, result.eigenvalue_gap]
    names = [*table.names, "log_density", "eigenvalue_gap"]
    outputs.csv(args.output, columns, names)
    return {"estimator": estimator, "ridges": result.points}


# ---------------------------------------------------------------------------
# The table of commands
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    run: Callable
    summary: str
    description: str


COMMANDS = {
    "modes": Command(
        cmd_modes,
        "print the modes with log-density, Hessian eigenvalues, cluster sizes",
        "Fit a density, ascend its log-density from every row, and print the "
        "modes reached (by decreasing density) with log f, the eigenvalues of "
        "the Hessian of log f (all negative at a mode) and the number of rows "
        "whose ascent reached each; saddle or flat end points are listed apart. "
        "-o writes the table as CSV (with -o -, the printed table goes to "
        "standard error).",
    ),
    "cluster": Command(
        cmd_cluster,
        "write a cluster label per row: the mode its ascent reaches",
        "Fit a density and write each row followed by its cluster label: the "
        "index of the mode its ascent of log f reaches (modes by decreasing "
        "density; -1: none). Clusters smaller than --min-cluster-size, and modes "
        "less prominent than --min-prominence, are merged into a neighbour.",
    ),
    "ridges": Command(
        cmd_ridges,
        "write the density's ridges: points on its filaments, as CSV",
        "Fit a density, move points onto a ridge of log f by subspace-"
        "constrained mean shift (find_ridges; from the rows of a KDE, at most "
        "10 000 of them, or from draws of a mixture: see --starts), and write "
        "the ridge points with "
        "their log-density and eigenvalue gap (how sharply the ridge stands "
        "out; near 0 it is ill-defined). Points outside the --hdr-prob highest "
        "density region are dropped.",
    ),
    "score": Command(
        cmd_score,
        "write the log-density at each row",
        "Fit a density to the data and write, for each row (or each row of "
        "--at), its columns followed by log f(x).",
    ),
    "grad": Command(
        cmd_grad,
        "write the gradient of the log-density at each row",
        "Fit a density and write, for each row (or each row of --at), its "
        "columns followed by the gradient of log f (of f with --density) with "
        "respect to the point; it points uphill.",
    ),
    "sample": Command(
        cmd_sample,
        "write new rows drawn from the fitted density",
        "Fit a density and write --n-samples rows drawn from it.",
    ),
}


def add_command_options(name, parser):
    """The options of one command, beyond the common ones."""
    group = parser.add_argument_group(name)
    if name in ("score", "grad"):
        group.add_argument(
            "--at",
            metavar="FILE",
            help="evaluate at the rows of this CSV (the fitted columns, by name; "
            "without a header, in order) instead of the data",
        )
        group.add_argument(
            "--density", action="store_true", help="the density f rather than log f"
        )
    if name in ("modes", "cluster"):
        group.add_argument(
            "--method",
            choices=["auto", "mean-shift", "newton"],
            default="auto",
            help="ascent method of find_modes (default: %(default)s)",
        )
    if name == "cluster":
        group.add_argument(
            "--min-cluster-size",
            metavar="N",
            help="merge clusters of fewer rows into a neighbour: a number of rows, "
            "or a fraction of them in (0, 1) (default: ModeClustering's, 0.01, "
            "R ks::kms's rule)",
        )
        group.add_argument(
            "--min-prominence",
            metavar="NATS",
            help="merge modes that rise less than this above the saddle joining "
            "them to a higher mode, in log f (default: none merged)",
        )
    if name == "ridges":
        group.add_argument(
            "--ridge-dim",
            type=int,
            default=1,
            metavar="K",
            help="dimension of the ridges: 1 for filaments (default: %(default)s)",
        )
        group.add_argument(
            "--ridge-method",
            choices=["scms", "newton"],
            default="scms",
            help="steps of find_ridges (default: %(default)s)",
        )
        group.add_argument(
            "--starts",
            choices=["default", "rows", "grid", "sample"],
            default="default",
            help="where the points start: find_ridges' default (a KDE's rows, "
            "a random 10 000 of a larger file; 1000 draws from a mixture), "
            "every row, a lattice over the data (at most 3 columns) or draws from "
            "the density (default: %(default)s)",
        )
        group.add_argument(
            "--hdr-prob",
            type=float,
            default=0.99,
            metavar="P",
            help="keep ridge points inside this highest density region "
            "(default: %(default)s)",
        )
    if name == "sample":
        group.add_argument(
            "-n", "--n-samples", type=int, default=100, help="rows to draw"
        )
