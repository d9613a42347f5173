"""Command-line tool: ``skdensity`` and ``python -m skdensity``.

For people who have a CSV file and a question about its density::

    skdensity modes data.csv --columns x,y --plot modes.png
    skdensity cluster data.csv --estimator gmm -o labels.csv
    skdensity score data.csv --columns x,y -o log_density.csv
    skdensity grad data.csv --bandwidth silverman
    skdensity sample data.csv -n 500 --random-state 0 -o new_rows.csv

Without a file every subcommand runs on the bundled Old Faithful data, and
with no argument at all the tool runs ``modes`` on it (the main job). A user
error (a missing file, a non-numeric column, a missing value, an output that
cannot be written) ends the program with exit status 2 and a message saying
what is wrong and where, never a traceback.

This module imports nothing heavy at start-up: the parser is built from the
standard library alone, and scikit-learn loads only once a command runs, so
``--help`` and argument errors answer at once.
"""

import argparse
import contextlib
import signal
import sys
import threading
import warnings

from .. import __version__
from ._commands import COMMANDS, add_command_options
from ._errors import InputError
from ._read import parse_delimiter, read_table
from ._write import Outputs, check_output_path

_MAX_COMPONENTS = 10


def _add_common(parser):
    data = parser.add_argument_group("data")
    data.add_argument(
        "file",
        nargs="?",
        help="CSV file (gzip, bzip2 and xz files too; '-' for standard input); "
        "default: the bundled Old Faithful data (columns eruptions, waiting)",
    )
    data.add_argument(
        "--columns",
        metavar="A,B,...",
        help="comma-separated column names or 0-based positions (default: every "
        "numeric column; text columns and an unnamed index column are skipped, "
        "with a note)",
    )
    data.add_argument(
        "--delimiter",
        metavar="SEP",
        help="field separator: one character, or '\\t' / tab, space (default: "
        "detected from the file)",
    )
    data.add_argument(
        "--encoding",
        help="text encoding, e.g. latin-1, cp1252 (default: UTF-8 with or without "
        "a byte-order mark; Windows-1252, with a note, if it is not UTF-8)",
    )
    data.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the first row names the columns (default: detected)",
    )
    model = parser.add_argument_group("density")
    model.add_argument(
        "--estimator",
        choices=["kde", "gmm", "bgmm"],
        default="kde",
        help="kde: GaussianKDE; gmm: GaussianMixtureGrad; bgmm: "
        "BayesianGaussianMixtureGrad (default: %(default)s)",
    )
    model.add_argument(
        "--bandwidth",
        default="scott",
        metavar="BW",
        help="kde: 'scott' or 'silverman' (as scipy.stats.gaussian_kde), "
        "'normal_scale', 'plugin', 'scv' or 'lscv' (R ks's selectors), a kernel "
        "standard deviation h (kernel covariance h^2 I, as sklearn "
        "KernelDensity), or one standard deviation per column, comma-separated "
        "(default: %(default)s)",
    )
    model.add_argument(
        "--algorithm",
        choices=["exact", "tree", "binned", "auto"],
        default="exact",
        help="kde: how the density and its derivatives are evaluated; tree and "
        "binned approximate them within a relative 1e-4, for large files "
        "(binned: 1 to 3 columns) (default: %(default)s)",
    )
    model.add_argument(
        "--n-components",
        default="bic",
        metavar="K",
        help="gmm, bgmm: mixture components, a number, or 'bic' to choose "
        f"1..{_MAX_COMPONENTS} by BIC (bgmm: start from {_MAX_COMPONENTS} and "
        "let the prior prune) (default: %(default)s)",
    )
    model.add_argument(
        "--covariance-type",
        choices=["full", "tied", "diag", "spherical"],
        default="full",
        help="gmm, bgmm: covariance form of the components (default: %(default)s)",
    )
    model.add_argument(
        "--random-state",
        type=int,
        default=None,
        metavar="SEED",
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
        help="write the CSV result here ('-' or none: standard output); the file "
        "is replaced only once every result is written",
    )
    out.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw a picture (.png, .pdf, .svg; 1 or 2 columns; needs matplotlib)",
    )
    out.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on standard error (default: when it is a terminal)",
    )
    out.add_argument(
        "-q", "--quiet", action="store_true", help="no notes on standard error"
    )


def build_parser():
    """The argument parser (standard library only: it loads nothing heavy)."""
    parser = argparse.ArgumentParser(
        prog="skdensity",
        description="Densities and their derivatives from a CSV file. Without a "
        "file, each command runs on the bundled Old Faithful data.",
        epilog="Run 'skdensity COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.command_parsers = {}  # name -> parser, for the docs' help pages
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.summary, description=command.description)
        parser.command_parsers[name] = p
        _add_common(p)
        add_command_options(name, p)
    return parser


class Reporter:
    """Notes and warnings on standard error, silenced by ``--quiet``."""

    def __init__(self, command, quiet, stream=None):
        self.command, self.quiet = command, quiet
        self.stream = stream if stream is not None else sys.stderr

    def note(self, message):
        if not self.quiet:
            print(f"skdensity {self.command}: note: {message}", file=self.stream)

    def done(self, message):
        if not self.quiet:
            print(f"skdensity {self.command}: {message}", file=self.stream)

    def warning(self, message, category, *args, **kwargs):
        """``warnings.showwarning`` without the source line of a traceback."""
        print(
            f"skdensity {self.command}: warning: {category.__name__}: {message}",
            file=self.stream,
        )

    def error(self, message):
        print(f"skdensity {self.command}: error: {message}", file=self.stream)


@contextlib.contextmanager
def _sigterm_exits():
    """SIGTERM unwinds like Ctrl-C, so staged files are removed on the way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_options(args):
    """Every check that needs no data, before any work starts."""
    args.delimiter = parse_delimiter(args.delimiter)
    if args.encoding is not None:
        import codecs

        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise InputError(
                f"--encoding {args.encoding!r} is not an encoding Python knows; "
                f"e.g. utf-8, latin-1, cp1252, utf-16."
            ) from None
    check_output_path(args.output, "-o")
    check_output_path(args.plot, "--plot")
    if args.plot == "-":
        raise InputError("--plot cannot go to standard output; give a file name.")
    if args.plot is not None:
        from ._plot import check_plot_format

        check_plot_format(args.plot)
        if args.output not in (None, "-") and _same_file(args.output, args.plot):
            raise InputError("-o and --plot name the same file; give two names.")
    if getattr(args, "at", None) == "-" and args.file == "-":
        raise InputError("the data and --at cannot both be standard input.")


def _same_file(a, b):
    from pathlib import Path

    return Path(a).resolve() == Path(b).resolve()


def run(args, reporter, outputs):
    """Read, fit, compute, draw: everything but committing the outputs."""
    from ..datasets import load_faithful
    from ._commands import Progress

    _check_options(args)
    table = read_table(
        args.file,
        args.columns,
        args.delimiter,
        encoding=args.encoding,
        header=args.header,
        notify=reporter.note,
        load_default=load_faithful,
    )
    args.source = table.source
    if args.plot is not None:
        from ._plot import check_plottable

        check_plottable(table.X, args.command)
    progress = Progress(sys.stderr.isatty() if args.progress is None else args.progress)
    command = COMMANDS[args.command]
    result = command.run(args, table, progress, outputs, reporter)
    if progress.enabled:
        from ._commands import describe

        print(
            f"fitted {describe(result['estimator'])} on {args.source}", file=sys.stderr
        )
    if args.plot is not None:
        from ._plot import plot

        outputs.file(args.plot, lambda tmp: plot(tmp, args, table, result))
    return result


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
    reporter = Reporter(args.command, args.quiet)
    outputs = Outputs()
    with warnings.catch_warnings(), _sigterm_exits():
        warnings.showwarning = reporter.warning
        try:
            run(args, reporter, outputs)
            outputs.commit()
        except ValueError as exc:  # InputError, and the estimators' own checks
            reporter.error(exc)
            return 2
        except MemoryError:
            reporter.error(
                "out of memory. Use fewer rows, --algorithm binned or tree, or "
                "lower scikit-learn's working_memory."
            )
            return 2
        except KeyboardInterrupt:
            reporter.error("interrupted; no output was changed.")
            return 130
        except BrokenPipeError:  # the reader (e.g. ``head``) closed the pipe
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        finally:
            outputs.discard()
    for path in (args.output, args.plot):
        if path not in (None, "-"):
            reporter.done(f"wrote {path}")
    return 0
