"""Writing the command-line tool's results: checked first, replaced atomically.

Every output path is checked before any work starts (its folder exists, it
is not a folder, it can be written), each result is written to a temporary
file beside its target, and the targets are replaced by renames only once
every result, picture included, has been written. A full disk, an error or
a SIGTERM before that leaves the user's previous files as they were.
"""

import contextlib
import csv
import os
import sys
from pathlib import Path

from ._errors import InputError


def check_output_path(path, option):
    """Raise unless ``path`` can be (over)written; ``-`` is standard output."""
    if path is None or path == "-":
        return
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise InputError(f"{option} {path!r} is a folder; give a file name in it.")
    if not folder.is_dir():
        raise InputError(
            f"{option} {path!r}: the folder {str(folder)!r} does not exist; "
            f"create it first."
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        raise InputError(f"{option} {path!r} cannot be written: permission denied.")


def _csv_rows(columns, names):
    """Header, then rows: integers as such, floats as the shortest string
    that reads back exactly (``repr``)."""
    yield names
    cells = [
        map(str, c.tolist()) if c.dtype.kind in "iub" else map(repr, c.tolist())
        for c in columns
    ]
    yield from zip(*cells, strict=True)


def _columns(values):
    """A 2-D array, or a list of 1-D and 2-D arrays side by side, as columns."""
    import numpy as np

    blocks = values if isinstance(values, list | tuple) else [values]
    return [col for b in blocks for col in np.asarray(b).reshape(len(b), -1).T]


class Outputs:
    """The results of one run, staged in temporary files, then committed.

    Parameters
    ----------
    stdout : file object
        Where ``-`` (or no ``-o``) writes.
    """

    def __init__(self, stdout=None):
        self.stdout = stdout if stdout is not None else sys.stdout
        self._staged = []  # (temporary path, target path)
        self._pending_stdout = None
        self._pending_text = []  # (stream, text), e.g. the modes report

    def _temporary(self, target):
        """A new file beside ``target``, created with the umask's permissions."""
        target = Path(target)
        for attempt in range(100):
            tmp = target.with_name(f".{target.name}.{os.getpid()}-{attempt}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise InputError(
                    f"cannot write {str(target)!r}: {exc.strerror}."
                ) from None
            self._staged.append((tmp, target))
            return fd, tmp
        raise InputError(f"cannot create a temporary file beside {str(target)!r}.")

    def csv(self, path, values, names):
        """Stage a CSV table (a header, then rows) for ``path`` (``-``/None: stdout)."""
        rows = _csv_rows(_columns(values), names)
        if path is None or path == "-":
            self._pending_stdout = rows
            return
        fd, tmp = self._temporary(path)
        try:
            with open(fd, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh, lineterminator="\n").writerows(rows)
        except OSError as exc:
            raise InputError(f"cannot write {str(path)!r}: {exc.strerror}.") from None

    def text(self, stream, text):
        """Stage ``text`` for ``stream`` (written after the CSV, on commit)."""
        self._pending_text.append((stream, text))

    def file(self, path, write):
        """Stage a file written by ``write(temporary_path)`` (a picture)."""
        fd, tmp = self._temporary(path)
        os.close(fd)
        try:
            write(tmp)
        except OSError as exc:
            raise InputError(f"cannot write {str(path)!r}: {exc.strerror}.") from None

    def commit(self):
        """Rename every staged file onto its target, then write standard output."""
        for tmp, target in self._staged:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise InputError(
                    f"cannot replace {str(target)!r}: {exc.strerror}."
                ) from None
        self._staged = []
        if self._pending_stdout is not None:
            csv.writer(self.stdout, lineterminator="\n").writerows(self._pending_stdout)
            self.stdout.flush()
            self._pending_stdout = None
        for stream, text in self._pending_text:
            stream.write(text)
            stream.flush()
        self._pending_text = []

    def discard(self):
        """Remove the staged files: the targets keep their previous contents."""
        for tmp, _ in self._staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._staged = []
        self._pending_stdout = None
        self._pending_text = []
