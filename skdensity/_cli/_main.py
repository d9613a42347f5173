"""Command-line tool: ``skdensity`` and ``python -m skdensity``.

For people who have a CSV file and a question about its density::

    skdensity modes data.csv --columns x,y --plot modes.png
    skdensity cluster data.csv --estimator gmm -o labels.csv
    skdensity score data.csv --columns x,y -o log_density.csv
    skdensity grad data.csv --bandwidth silverman
    skdensity sample data.csv -n 500 --random-state 0 -o new_rows.csv

Without a file every subcommand runs on the bundled Old Faithful data, and
with no argument at all the tool runs ``modes`` on it (the main job). Errors
in the input (a missing file, a non-numeric column, a missing value) end the
program with exit status 2 and a message saying what is wrong and where.
"""

import argparse
import math
import os
import sys
import textwrap

import numpy as np
from sklearn.base import clone

from .. import (
    BayesianGaussianMixtureGrad,
    GaussianKDE,
    GaussianMixtureGrad,
    ModeClustering,
    __version__,
    find_modes,
)
from ._io import InputError, Progress, read_table, write_table
from ._plot import check_plottable, plot

_MAX_COMPONENTS = 10


# ---------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------


def parse_bandwidth(text):
    """``"scott"``, ``"silverman"``, a float, or comma-separated per-feature floats."""
    text = text.strip().lower()
    if text in ("scott", "silverman"):
        return text
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(
            f"--bandwidth {text!r} is not 'scott', 'silverman', a number or "
            f"comma-separated numbers (one kernel standard deviation per column)."
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


def build_estimator(args, n_features, n_components=None):
    """The density estimator the options describe (unfitted)."""
    if args.estimator == "kde":
        bandwidth = parse_bandwidth(args.bandwidth)
        if isinstance(bandwidth, np.ndarray) and bandwidth.size != n_features:
            raise InputError(
                f"--bandwidth gives {bandwidth.size} per-column values for "
                f"{n_features} columns; give one value, or one per column."
            )
        return GaussianKDE(bandwidth=bandwidth, n_jobs=args.n_jobs)
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
    if isinstance(estimator, GaussianKDE):
        factor = (
            "" if estimator.factor_ is None else f", factor {estimator.factor_:.4g}"
        )
        return f"GaussianKDE(bandwidth={estimator.bandwidth!r}{factor})"
    return (
        f"{type(estimator).__name__}(n_components={estimator.n_components}, "
        f"covariance_type={estimator.covariance_type!r})"
    )


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------


def _query_points(args, names):
    """The rows to evaluate at: ``--at FILE`` (same columns), else the data."""
    if args.at is None:
        return None
    return read_table(args.at, ",".join(names), args.delimiter)[0]


def cmd_score(args, X, names, progress):
    estimator = fit_estimator(args, X, progress)
    Q = _query_points(args, names)
    Q = X if Q is None else Q
    log_f = progress.map_chunks(estimator.score_samples, Q, "log-density")
    if args.density:
        write_table(
            args.output, np.column_stack([Q, np.exp(log_f)]), [*names, "density"]
        )
    else:
        write_table(args.output, np.column_stack([Q, log_f]), [*names, "log_density"])
    return estimator, {"queries": Q, "values": log_f}


def cmd_grad(args, X, names, progress):
    estimator = fit_estimator(args, X, progress)
    Q = _query_points(args, names)
    Q = X if Q is None else Q
    log = not args.density

    def gradient(rows):
        return estimator.gradient(rows, log=log)

    grad = progress.map_chunks(gradient, Q, "gradient")
    prefix = "dlogf_d" if log else "df_d"
    write_table(
        args.output, np.column_stack([Q, grad]), [*names, *(prefix + n for n in names)]
    )
    return estimator, {"queries": Q, "gradient": grad}


def cmd_sample(args, X, names, progress):
    estimator = fit_estimator(args, X, progress)
    drawn = estimator.sample(args.n_samples, random_state=args.random_state)
    if isinstance(drawn, tuple):  # sklearn mixtures return (X, component labels)
        drawn = drawn[0]
    write_table(args.output, drawn, names)
    return estimator, {"samples": drawn}


def _format_table(header, rows):
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    )


def cmd_modes(args, X, names, progress):
    estimator = fit_estimator(args, X, progress)
    with progress.stage(f"ascending from {len(X)} points to the modes"):
        result = find_modes(estimator, X, method=args.method)
    k, d = result.modes.shape
    sizes = np.bincount(result.labels[result.labels >= 0], minlength=k)
    eig_names = [f"hess_eig_{j + 1}" for j in range(d)]
    table = [result.modes, result.log_density, result.hessian_eigenvalues, sizes]
    if args.output is not None:
        write_table(args.output, table, [*names, "log_density", *eig_names, "n_points"])
    print(f"{describe(estimator)} on {args.source}")
    print(
        f"{k} mode{'s' * (k != 1)} (by decreasing density), found by "
        f"'{result.method}' ascent from every row:\n"
    )
    rows = [
        [i, *(f"{v:.6g}" for v in mode), f"{lf:.6f}",
         *(f"{e:.4g}" for e in eig), size]
        for i, (mode, lf, eig, size) in enumerate(
            zip(result.modes, result.log_density, result.hessian_eigenvalues,
                sizes, strict=True)
        )
    ]  # fmt: skip
    print(_format_table(["mode", *names, "log f", *eig_names, "points"], rows))
    unassigned = int(np.sum(result.labels < 0))
    note = (
        "Hessian eigenvalues are those of log f: all negative at a mode. "
        "'points' counts the rows whose ascent reached the mode"
        + (f"; {unassigned} reached none." if unassigned else ".")
    )
    print("\n" + textwrap.fill(note, width=79))
    for point, lf, eig in zip(
        result.saddle_points,
        result.saddle_log_density,
        result.saddle_hessian_eigenvalues,
        strict=True,
    ):
        with np.printoptions(precision=4):
            print(f"saddle or flat point at {point}, log f {lf:.6f}, eigenvalues {eig}")
    return estimator, {"modes": result.modes, "saddles": result.saddle_points}


def cmd_cluster(args, X, names, progress):
    estimator = fit_estimator(args, X, progress)
    clusterer = ModeClustering(
        density=clone(estimator),
        method=args.method,
        min_cluster_size=args.min_cluster_size,
    )
    with progress.stage(f"clustering {len(X)} points by their modes"):
        labels = clusterer.fit(X).labels_
    write_table(args.output, [X, labels], [*names, "label"])
    return clusterer.density_, {
        "labels": labels,
        "modes": clusterer.cluster_centers_,
    }


# ---------------------------------------------------------------------------
# Argument parsing
# ---------------------------------------------------------------------------

_COMMANDS = {
    "modes": (
        cmd_modes,
        "print the modes with log-density, Hessian eigenvalues, cluster sizes",
        "Fit a density, ascend its log-density from every row, and print the "
        "modes reached (by decreasing density) with log f, the eigenvalues of "
        "the Hessian of log f (all negative at a mode) and the number of rows "
        "whose ascent reached each; saddle or flat end points are listed apart. "
        "-o writes the table as CSV.",
    ),
    "cluster": (
        cmd_cluster,
        "write a cluster label per row: the mode its ascent reaches",
        "Fit a density and write each row followed by its cluster label: the "
        "index of the mode its ascent of log f reaches (modes by decreasing "
        "density; -1: none).",
    ),
    "score": (
        cmd_score,
        "write the log-density at each row",
        "Fit a density to the data and write, for each row (or each row of "
        "--at), its columns followed by log f(x).",
    ),
    "grad": (
        cmd_grad,
        "write the gradient of the log-density at each row",
        "Fit a density and write, for each row (or each row of --at), its "
        "columns followed by the gradient of log f (of f with --density) with "
        "respect to the point; it points uphill.",
    ),
    "sample": (
        cmd_sample,
        "write new rows drawn from the fitted density",
        "Fit a density and write --n-samples rows drawn from it.",
    ),
}


def _add_common(parser):
    data = parser.add_argument_group("data")
    data.add_argument(
        "file",
        nargs="?",
        help="CSV file with a header row (optional); default: the bundled Old "
        "Faithful data (columns eruptions, waiting)",
    )
    data.add_argument(
        "--columns",
        metavar="A,B,...",
        help="comma-separated column names or 0-based positions (default: all)",
    )
    data.add_argument(
        "--delimiter", default=",", help="field separator (default: %(default)r)"
    )
    model = parser.add_argument_group("density")
    model.add_argument(
        "--bandwidth",
        default="scott",
        metavar="BW",
        help="'scott' or 'silverman' (as scipy.stats.gaussian_kde), a kernel "
        "standard deviation h (kernel covariance h^2 I, as sklearn "
        "KernelDensity), or one standard deviation per column, comma-separated "
        "(default: %(default)s)",
    )
    model.add_argument(
        "--estimator",
        choices=["kde", "gmm", "bgmm"],
        default="kde",
        help="kde: GaussianKDE; gmm: GaussianMixtureGrad; bgmm: "
        "BayesianGaussianMixtureGrad (default: %(default)s)",
    )
    model.add_argument(
        "--n-components",
        default="bic",
        metavar="K",
        help="mixture components (gmm, bgmm): a number, or 'bic' to choose "
        f"1..{_MAX_COMPONENTS} by BIC (bgmm: start from {_MAX_COMPONENTS} and "
        "let the prior prune) (default: %(default)s)",
    )
    model.add_argument(
        "--covariance-type",
        choices=["full", "tied", "diag", "spherical"],
        default="full",
        help="mixture covariance form (default: %(default)s)",
    )
    model.add_argument(
        "--random-state",
        type=int,
        default=None,
        help="seed for mixture fitting and sampling",
    )
    model.add_argument(
        "--n-jobs", type=int, default=None, help="joblib workers for evaluation"
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the CSV result here (default: standard output)",
    )
    out.add_argument(
        "--plot", metavar="PNG", help="also draw a picture (2-D data only)"
    )
    out.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress on standard error (default: when it is a terminal)",
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skdensity",
        description="Densities and their derivatives from a CSV file. Without a "
        "file, each command runs on the bundled Old Faithful data.",
        epilog="Run 'skdensity COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.command_parsers = {}  # name -> parser, for the docs' help pages
    for name, (_, summary, description) in _COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=description)
        parser.command_parsers[name] = p
        _add_common(p)
        if name in ("score", "grad"):
            p.add_argument(
                "--at",
                metavar="FILE",
                help="evaluate at the rows of this CSV (same columns) instead "
                "of the data",
            )
            p.add_argument(
                "--density",
                action="store_true",
                help="the density f rather than log f",
            )
        if name in ("modes", "cluster"):
            p.add_argument(
                "--method",
                choices=["auto", "mean-shift", "newton"],
                default="auto",
                help="ascent method of find_modes (default: %(default)s)",
            )
        if name == "cluster":
            p.add_argument(
                "--min-cluster-size",
                type=int,
                default=1,
                metavar="N",
                help="merge smaller clusters into their neighbours (default: 1)",
            )
        if name == "sample":
            p.add_argument(
                "-n", "--n-samples", type=int, default=100, help="rows to draw"
            )
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # the main job: the modes of Old Faithful
        argv = ["modes"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    func = _COMMANDS[args.command][0]
    progress = Progress(sys.stderr.isatty() if args.progress is None else args.progress)
    try:
        X, names, args.source = read_table(args.file, args.columns, args.delimiter)
        if args.plot:
            check_plottable(X)
        estimator, extra = func(args, X, names, progress)
        if progress.enabled:
            print(f"fitted {describe(estimator)} on {args.source}", file=sys.stderr)
        if args.plot:
            title = f"skdensity {args.command}: {describe(estimator)}"
            plot(args.plot, args.command, estimator, X, names, extra, title)
    except ValueError as exc:  # InputError, and the estimators' own checks
        print(f"skdensity {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (e.g. ``head``) closed the pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if args.plot:
        print(f"skdensity {args.command}: wrote {args.plot}", file=sys.stderr)
    return 0
