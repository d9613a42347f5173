"""Running the command-line tool inside the test process."""

import io
import subprocess
from contextlib import redirect_stderr, redirect_stdout

from skdensity._cli import main


def run(*args, check=True):
    """Run the tool's ``main`` in this process (fast), capturing its output.

    Returns a :class:`subprocess.CompletedProcess` with the exit code and
    the captured standard output and error; ``check`` asserts success.
    """
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's --help and usage errors
            code = exc.code
    proc = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc
