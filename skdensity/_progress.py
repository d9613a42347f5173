"""Progress bars for long runs: tqdm when it is installed, plain lines otherwise.

One helper serves the API's ``verbose`` options and the command line's
``--progress``. tqdm (an optional dependency, in the ``cli`` extra) draws the
bar, with counts, rate and time left; without it, a line with the count is
written to standard error at most twice a second.
"""

import sys
import time
from contextlib import contextmanager


class _Lines:
    """A tqdm stand-in: ``desc: done/total unit`` lines, throttled."""

    def __init__(self, total, desc, unit, file):
        self.total, self.desc, self.unit, self.file = total, desc, unit, file
        self.n, self._start, self._shown = 0, time.perf_counter(), -1.0

    def update(self, n=1):
        self.n += n
        now = time.perf_counter() - self._start
        if now - self._shown >= 0.5 or self.n >= self.total:
            self._shown = now
            self.file.write(
                f"{self.desc}: {self.n}/{self.total} {self.unit} {now:.1f} s\n"
            )
            self.file.flush()

    def close(self):
        pass


class _Silent:
    n = 0

    def update(self, n=1):
        self.n += n

    def close(self):
        pass


@contextmanager
def progress_bar(total, desc, *, enabled=True, unit="points", file=None):
    """A progress bar over ``total`` items; ``update(n)`` as they are done.

    Parameters
    ----------
    total : int
        Number of items.
    desc : str
        What is counted, shown before the bar.
    enabled : bool, default=True
        ``False`` gives a bar that shows nothing.
    unit : str, default="points"
        Name of an item.
    file : file object, default=None
        Where to draw; ``None`` means standard error.

    Yields
    ------
    bar : object with ``update(n)``
        ``tqdm.tqdm`` when tqdm is installed.
    """
    if not enabled:
        yield _Silent()
        return
    file = sys.stderr if file is None else file
    try:
        from tqdm.auto import tqdm
    except ImportError:
        bar = _Lines(total, desc, unit, file)
    else:
        bar = tqdm(total=total, desc=desc, unit=f" {unit}", file=file, leave=True)
    try:
        yield bar
    finally:
        bar.close()
