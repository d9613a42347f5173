"""Input and output of the command-line tool: CSV tables and progress."""

import csv
import math
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..datasets import load_faithful

_MISSING = {"", "na", "nan", "n/a", "null", "none", "-nan"}
FAITHFUL = "Old Faithful (bundled, 272 rows)"


class InputError(ValueError):
    """A problem with the user's input, reported without a traceback."""


# ---------------------------------------------------------------------------
# Reading the data
# ---------------------------------------------------------------------------


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _select_columns(header, columns):
    """Indices of the requested columns (names, or 0-based integer positions)."""
    if columns is None:
        return list(range(len(header)))
    chosen = []
    for item in (c.strip() for c in columns.split(",")):
        if item in header:
            chosen.append(header.index(item))
        elif item.lstrip("-").isdigit() and -len(header) <= int(item) < len(header):
            chosen.append(int(item) % len(header))
        else:
            raise InputError(
                f"--columns: no column {item!r}; the file has columns "
                f"{', '.join(repr(h) for h in header)} (names, or 0-based "
                f"positions 0..{len(header) - 1})."
            )
    if len(set(chosen)) != len(chosen):
        raise InputError(f"--columns names a column twice: {columns!r}.")
    return chosen


def read_table(path, columns=None, delimiter=","):
    """Read the numeric columns of a CSV file, or the bundled Old Faithful data.

    Parameters
    ----------
    path : str or None
        CSV file with an optional header row. ``None`` loads Old Faithful.
    columns : str or None
        Comma-separated column names or 0-based positions; ``None`` takes all.
    delimiter : str
        Field separator.

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns)
        The data, float64, all finite.
    names : list of str
        Column names (``x0, x1, ...`` when the file has no header).
    source : str
        What was read, for messages.
    """
    if path is None:
        X, names = load_faithful()
        keep = _select_columns(names, columns)
        return X[:, keep], [names[j] for j in keep], FAITHFUL
    file = Path(path)
    if not file.is_file():
        raise InputError(
            f"cannot read {path!r}: no such file. Give the path of a CSV file, "
            f"or no file at all to use the bundled Old Faithful data."
        )
    with file.open(newline="") as fh:
        rows = [row for row in csv.reader(fh, delimiter=delimiter) if row]
    if not rows:
        raise InputError(f"{path!r} is empty: it needs at least one row of numbers.")
    first = [field.strip() for field in rows[0]]
    has_header = not all(_is_number(f) or f.lower() in _MISSING for f in first)
    if has_header:
        header, body, first_line = first, rows[1:], 2
    else:
        header, body, first_line = [f"x{j}" for j in range(len(first))], rows, 1
    if not body:
        raise InputError(f"{path!r} has a header but no data rows.")
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise InputError(
                f"{path!r}, row {i + 1} (line {i + first_line}) has {len(row)} "
                f"fields where the {'header' if has_header else 'first row'} has "
                f"{len(header)}; check the delimiter (--delimiter) and quoting."
            )
    keep = _select_columns(header, columns)
    X = np.empty((len(body), len(keep)))
    for out, j in enumerate(keep):
        for i, row in enumerate(body):
            field = row[j].strip()
            where = (
                f"row {i + 1} (line {i + first_line}), column {header[j]!r} of {path!r}"
            )
            if field.lower() in _MISSING:
                raise InputError(
                    f"missing value (NaN) at {where}. Remove or impute the rows "
                    f"with missing values first."
                )
            try:
                value = float(field)
            except ValueError:
                raise InputError(
                    f"column {header[j]!r} is not numeric: {where} holds "
                    f"{field!r}. Choose numeric columns with --columns."
                ) from None
            if not math.isfinite(value):
                raise InputError(
                    f"non-finite value {field!r} at {where}. Remove or replace "
                    f"infinite and NaN values first."
                )
            X[i, out] = value
    return X, [header[j] for j in keep], f"{path} ({len(body)} rows)"


def _write_rows(fh, columns, names):
    fh.write(",".join(names) + "\n")
    # repr of a Python float is the shortest string that reads back exactly
    cells = [
        map(str, c.tolist()) if c.dtype.kind in "iub" else map(repr, c.tolist())
        for c in columns
    ]
    for row in zip(*cells, strict=True):
        fh.write(",".join(row) + "\n")


def write_table(path, values, names):
    """Write a table as CSV with a header, to ``path`` or to standard output.

    ``values`` is a 2-D array, or a list of 1-D and 2-D arrays put side by
    side; integer arrays are written as integers.
    """
    blocks = values if isinstance(values, list | tuple) else [values]
    columns = [
        col for b in blocks for col in np.asarray(b).reshape(len(b), -1).T
    ]  # fmt: skip
    if path is None or path == "-":
        _write_rows(sys.stdout, columns, names)
        return
    with open(path, "w", newline="") as fh:
        _write_rows(fh, columns, names)


# ---------------------------------------------------------------------------
# Progress on standard error
# ---------------------------------------------------------------------------


class Progress:
    """A text progress bar and elapsed-time ticker on standard error.

    Enabled explicitly (``--progress``) or, by default, when standard error
    is a terminal; silent otherwise, so output files and pipes stay clean.
    """

    def __init__(self, enabled, stream=None):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr

    def _write(self, text, end=""):
        self.stream.write("\r" + text + end)
        self.stream.flush()

    def map_chunks(self, func, X, label, min_rows=2000):
        """``func`` applied to row chunks of ``X``, results concatenated.

        Shows a bar when enabled and ``X`` has at least ``min_rows`` rows.
        """
        n = X.shape[0]
        if not self.enabled or n < min_rows:
            return func(X)
        n_chunks = min(50, math.ceil(n / 500))
        bounds = np.linspace(0, n, n_chunks + 1).astype(int)
        parts, start = [], time.perf_counter()
        for k in range(n_chunks):
            parts.append(func(X[bounds[k] : bounds[k + 1]]))
            done = bounds[k + 1]
            filled = round(30 * done / n)
            self._write(
                f"{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{n} rows "
                f"{time.perf_counter() - start:.1f} s"
            )
        self._write("", end="\n")
        return np.concatenate(parts)

    @contextmanager
    def stage(self, label):
        """Show ``label`` with a running clock while the block runs."""
        if not self.enabled:
            yield
            return
        stop, start = threading.Event(), time.perf_counter()

        def tick():
            while not stop.wait(0.25):
                self._write(f"{label} ... {time.perf_counter() - start:.1f} s")

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self._write(f"{label} ... done in {time.perf_counter() - start:.1f} s\n")
