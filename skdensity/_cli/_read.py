"""Reading the command-line tool's input: CSV files as people have them.

The standard library does the format work: :mod:`gzip`, :mod:`bz2` and
:mod:`lzma` decompress, :mod:`codecs` handles the byte-order marks, and
:mod:`csv` parses the fields (quoting included). What is ours is deciding
what the user meant, and saying so: which delimiter, whether the first row
is a header, which columns are numbers, and where a value is wrong.
"""

import bz2
import codecs
import csv
import gzip
import lzma
import math
import re
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._errors import InputError

FAITHFUL = "Old Faithful (bundled, 272 rows)"
_MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "-nan", "#n/a"})
#: Delimiters tried when the user gives none, in order of preference.
_CANDIDATES = (",", ";", "\t", "|", " ")
_DELIMITER_NAMES = {
    "\\t": "\t",
    "tab": "\t",
    "\t": "\t",
    "space": " ",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
}
_SHOWN = {"\t": "\\t (tab)", " ": "' ' (space)"}
_COMPRESSED = (
    (b"\x1f\x8b", "gzip", gzip.decompress, (OSError, EOFError)),
    (b"BZh", "bzip2", bz2.decompress, (OSError, EOFError, ValueError)),
    (b"\xfd7zXZ\x00", "xz", lzma.decompress, (lzma.LZMAError, EOFError)),
)
#: Rows looked at to choose the delimiter and the header.
_SNIFF_ROWS = 50


class Table(NamedTuple):
    """What :func:`read_table` read."""

    X: np.ndarray  #: (n_rows, n_columns) float64, all finite
    names: list  #: column names (``x0, x1, ...`` without a header row)
    source: str  #: what was read, for messages
    named: bool  #: whether the file named its columns


def shown(delimiter):
    """A delimiter as a user would type it."""
    return _SHOWN.get(delimiter, repr(delimiter))


def parse_delimiter(text):
    """``--delimiter``: one character, or ``\\t``, ``tab``, ``space``, ...

    ``None`` (the default) means: choose from the file.
    """
    if text is None:
        return None
    delimiter = _DELIMITER_NAMES.get(text.lower(), text)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise InputError(
            f"--delimiter {text!r} is not one character; give e.g. ';', '\\t' "
            f"(or 'tab'), 'space', or leave it out to detect the delimiter."
        )
    return delimiter


# ---------------------------------------------------------------------------
# Bytes -> text
# ---------------------------------------------------------------------------


def read_bytes(path):
    """The file's bytes (``-``: standard input), decompressed when compressed.

    Returns ``(data, name)``, ``name`` being how messages refer to the input.
    """
    if path == "-":
        data, name = sys.stdin.buffer.read(), "standard input"
    else:
        file, name = Path(path), repr(str(path))
        if file.is_dir():
            raise InputError(f"cannot read {name}: it is a directory, not a file.")
        if not file.exists():
            raise InputError(
                f"cannot read {name}: no such file. Give the path of a CSV file, "
                f"'-' for standard input, or no file at all to use the bundled "
                f"Old Faithful data."
            )
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror}.") from None
    for magic, kind, decompress, errors in _COMPRESSED:
        if data.startswith(magic):
            try:
                data = decompress(data)
            except errors as exc:
                raise InputError(
                    f"{name} is {kind}-compressed but does not decompress "
                    f"({exc}); the file may be truncated."
                ) from None
            break
    if data.startswith(b"PK\x03\x04"):
        raise InputError(
            f"{name} is a zip archive (an Excel workbook is one): unzip it, or "
            f"save the sheet as CSV, and give that file."
        )
    return data, name


def decode(data, name, encoding=None, notify=None):
    """Text from bytes: ``encoding``, else UTF-8 (byte-order mark or not),
    UTF-16 with a byte-order mark, and Windows-1252 as a noted fall-back."""
    if encoding is not None:
        try:
            return data.decode(encoding)
        except LookupError:
            raise InputError(
                f"--encoding {encoding!r} is not an encoding Python knows; "
                f"e.g. utf-8, latin-1, cp1252, utf-16."
            ) from None
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InputError(
                f"{name} is not valid {encoding} (byte 0x{data[exc.start]:02x} on "
                f"line {line}); give its encoding with --encoding."
            ) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")  # drops Excel's "CSV UTF-8" mark
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        try:
            text, used = data.decode("cp1252"), "Windows-1252"
        except UnicodeDecodeError:
            text, used = data.decode("latin-1"), "Latin-1"
        if notify is not None:
            notify(
                f"{name} is not UTF-8 (byte 0x{data[exc.start]:02x} on line "
                f"{line}); read it as {used}. Give --encoding if that is wrong."
            )
        return text


# ---------------------------------------------------------------------------
# Text -> rows
# ---------------------------------------------------------------------------


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _numeric_share(rows):
    fields = [f.strip() for row in rows for f in row]
    known = [f for f in fields if f.lower() not in _MISSING]
    return sum(map(_is_number, known)) / max(1, len(known))


def _split(lines, delimiter):
    return [
        row for row in csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
        if row
    ]  # fmt: skip


def sniff_delimiter(lines):
    """The delimiter that splits the first rows into the same number (> 1) of
    fields, the most of them numbers; ``","`` when none does (one column)."""
    sample = [line for line in lines[:_SNIFF_ROWS] if line.strip()]
    best, best_key = ",", None
    for rank, candidate in enumerate(_CANDIDATES):
        try:
            rows = _split(sample, candidate)
        except csv.Error:
            continue
        counts = {len(row) for row in rows}
        if len(counts) != 1 or counts == {1}:
            continue
        key = (_numeric_share(rows[1:] or rows), len(rows[0]), -rank)
        if best_key is None or key > best_key:
            best, best_key = candidate, key
    return best


def _delimiter_hint(lines, delimiter):
    guess = sniff_delimiter(lines)
    if guess != delimiter:
        return (
            f" The file looks {shown(guess)}-separated: try --delimiter {shown(guess)}."
        )
    return " Check the delimiter (--delimiter) and the quoting."


def _has_header(first, body):
    """The first row names the columns if one of its fields is text where
    the rows below hold numbers, or if every field of it is text."""
    text = [not _is_number(f) and f.lower() not in _MISSING for f in first]
    if not any(text):
        return False
    if all(text):
        return True
    below = body[:_SNIFF_ROWS]
    return any(
        is_text and any(j < len(r) and _is_number(r[j].strip()) for r in below)
        for j, is_text in enumerate(text)
    )


def split_rows(text, name, delimiter=None, header=None, notify=None):
    """Header and rows of a CSV text.

    Returns ``(header, body, first_line, named)``: column names (made up as
    ``x0, x1, ...`` when there is no header row), the data rows as lists of
    strings, the line number of the first data row, and whether the file
    named its columns. A leading unnamed column (the index ``to_csv`` or R's
    ``write.csv`` writes) is named ``""``.
    """
    lines = text.splitlines()
    chosen = delimiter if delimiter is not None else sniff_delimiter(lines)
    try:
        rows = _split(lines, chosen)
    except csv.Error as exc:
        raise InputError(f"{name} is not a readable CSV file: {exc}.") from None
    if not rows:
        raise InputError(f"{name} is empty: it needs at least one row of numbers.")
    first = [field.strip() for field in rows[0]]
    named = _has_header(first, rows[1:]) if header is None else header
    if named:
        columns, body, first_line = first, rows[1:], 2
        if body and all(len(row) == len(columns) + 1 for row in body[:_SNIFF_ROWS]):
            columns = ["", *columns]  # R's write.table: no header over row names
    else:
        columns, body, first_line = [f"x{j}" for j in range(len(first))], rows, 1
    if not body:
        raise InputError(f"{name} has a header row but no data rows.")
    for i, row in enumerate(body):
        if len(row) != len(columns):
            raise InputError(
                f"{name}, row {i + 1} (line {i + first_line}) has {len(row)} "
                f"field{'s' * (len(row) != 1)} where the "
                f"{'header' if named else 'first row'} has {len(columns)}."
                + _delimiter_hint(lines, chosen)
            )
    if len(columns) == 1 and delimiter is None and notify is not None:
        for candidate in (";", "\t", "|"):
            if candidate in text.split("\n", 1)[0]:
                notify(
                    f"{name} reads as one column; if it is {shown(candidate)}"
                    f"-separated, give --delimiter {shown(candidate)}."
                )
                break
    return columns, body, first_line, named


# ---------------------------------------------------------------------------
# Rows -> numbers
# ---------------------------------------------------------------------------


def _where(i, first_line, column, name):
    return f"row {i + 1} (line {i + first_line}), column {column!r} of {name}"


def _convert_column(body, j, column, name, first_line):
    """Column ``j`` as floats; a :class:`InputError` at its first bad field."""
    fields = [row[j] for row in body]
    try:  # the fast path, for a column of finite numbers
        values = np.array(fields).astype(np.float64)
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    missing_rows = [
        i for i, row in enumerate(body) if row[j].strip().lower() in _MISSING
    ]
    if missing_rows:
        i, n_bad = missing_rows[0], len(missing_rows)
        raise InputError(
            f"missing value (NaN) at {_where(i, first_line, column, name)}"
            + (f" ({n_bad} rows have one in this column)" if n_bad > 1 else "")
            + ". Remove or impute the rows with missing values first; no row is "
            "dropped without you."
        )
    values = []
    for i, row in enumerate(body):
        field = row[j].strip()
        try:
            value = float(field)
        except ValueError:
            hint = "Choose numeric columns with --columns."
            if re.fullmatch(r"[-+]?\d*,\d+", field):
                hint = (
                    "It looks like a decimal comma: convert the file to decimal "
                    "points first."
                )
            raise InputError(
                f"column {column!r} is not numeric: "
                f"{_where(i, first_line, column, name)} holds {field!r}. {hint}"
            ) from None
        if not math.isfinite(value):
            raise InputError(
                f"non-finite value {field!r} at "
                f"{_where(i, first_line, column, name)}. Remove or replace "
                f"infinite and NaN values first."
            )
        values.append(value)
    return np.array(values)


def _is_text_column(body, j):
    """Most of the column's fields are not numbers (a label, a name, a date)."""
    known = [row[j].strip() for row in body if row[j].strip().lower() not in _MISSING]
    return bool(known) and sum(map(_is_number, known)) <= len(known) / 2


def select_columns(header, columns):
    """Indices of the columns ``--columns`` names (names or 0-based positions)."""
    chosen = []
    for item in (c.strip() for c in next(csv.reader([columns]))):
        matches = [j for j, h in enumerate(header) if h == item]
        if len(matches) > 1:
            raise InputError(
                f"--columns: the file has {len(matches)} columns named {item!r}; "
                f"give their 0-based positions ({', '.join(map(str, matches))})."
            )
        if matches:
            chosen.append(matches[0])
        elif re.fullmatch(r"-?\d+", item) and -len(header) <= int(item) < len(header):
            chosen.append(int(item) % len(header))
        else:
            raise InputError(
                f"--columns: no column {item!r}; the file has columns "
                f"{', '.join(repr(h) for h in header)} (names, or 0-based "
                f"positions 0..{len(header) - 1}; quote names that hold commas)."
            )
    if len(set(chosen)) != len(chosen):
        raise InputError(f"--columns names a column twice: {columns!r}.")
    return chosen


def read_table(
    path,
    columns=None,
    delimiter=None,
    *,
    encoding=None,
    header=None,
    notify=None,
    load_default=None,
):
    """Read the numeric columns of a CSV file (or the bundled data).

    Parameters
    ----------
    path : str or None
        CSV file, ``"-"`` for standard input, or ``None`` for the data
        ``load_default()`` returns as ``(X, names)``. gzip, bzip2 and xz
        files are recognised by their first bytes.
    columns : str or None
        Comma-separated column names or 0-based positions. ``None`` takes
        every numeric column, skipping (with a notice) text columns and an
        unnamed leading index column.
    delimiter : str or None
        Field separator; ``None`` detects it.
    encoding : str or None
        Text encoding; ``None``: UTF-8 (with or without byte-order mark), or
        UTF-16 with one, falling back to Windows-1252 with a notice.
    header : bool or None
        Whether the first row names the columns; ``None`` decides from it.
    notify : callable or None
        Called with a sentence for each thing the user should know.

    Returns
    -------
    table : Table
        ``X`` of shape (n_rows, n_columns), float64 and finite; ``names``;
        ``source``, for messages; ``named``, whether the file had a header.

    Raises
    ------
    InputError
        With the row, line and column of the first problem.
    """
    notify = notify if notify is not None else (lambda message: None)
    if path is None:
        data, names = load_default()
        keep = list(range(len(names)))
        if columns is not None:
            keep = select_columns(names, columns)
        return Table(data[:, keep], [names[j] for j in keep], FAITHFUL, True)
    data, name = read_bytes(path)
    text = decode(data, name, encoding, notify)
    header_row, body, first_line, named = split_rows(
        text, name, delimiter, header, notify
    )
    if columns is not None:
        keep = select_columns(header_row, columns)
    else:
        keep = list(range(len(header_row)))
        if named and len(header_row) > 1 and header_row[0] in ("", "Unnamed: 0"):
            keep.remove(0)
            notify(
                f"{name}: the first column has no name (an index, as "
                f"DataFrame.to_csv and R's write.csv write); it is not fitted. "
                f"Choose columns with --columns to fit it."
            )
        text_columns = [j for j in keep if _is_text_column(body, j)]
        if text_columns:
            keep = [j for j in keep if j not in text_columns]
            listed = ", ".join(repr(header_row[j]) for j in text_columns)
            if not keep:
                lines = text.splitlines()
                hint = (
                    _delimiter_hint(lines, delimiter)
                    if delimiter is not None
                    else " Check the delimiter (--delimiter) and the decimal separator."
                )
                raise InputError(
                    f"{name} has no numeric column ({listed} hold text).{hint}"
                )
            notify(f"{name}: skipped non-numeric column(s) {listed}.")
    X = np.column_stack(
        [_convert_column(body, j, header_row[j], name, first_line) for j in keep]
    )
    where = "standard input" if path == "-" else str(path)
    source = f"{where} ({len(body)} rows)"
    return Table(X, [header_row[j] for j in keep], source, named)
