"""The README's code runs as written: its Python blocks in order (the dask
block as a script of its own, as a user saves it), its command-line block
line by line."""

import io
import re
import shlex
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from skdensity._cli import main

README = (Path(__file__).parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```(python|bash)\n(.*?)```", README, flags=re.DOTALL)


def _python_blocks():
    return [code for kind, code in BLOCKS if kind == "python"]


def test_python_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for code in _python_blocks():
        if "__main__" in code:
            continue  # a script: run by the dask test
        exec(compile(code, "README.md", "exec"), namespace)


@pytest.mark.slow
def test_dask_block_runs_as_a_script(tmp_path):
    pytest.importorskip("dask.distributed")
    (code,) = [c for c in _python_blocks() if "__main__" in c]
    script = tmp_path / "dask_example.py"
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "(272, 2)" in proc.stdout


def test_command_line_block_runs_line_by_line(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    (block,) = [
        c for kind, c in BLOCKS if kind == "bash" and "skdensity modes --p" in c
    ]
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assert words[0] == "skdensity", line
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(words[1:])
            except SystemExit as exc:  # --help
                code = exc.code
        assert code == 0, (line, err.getvalue())
    for name in ("modes.png", "new.csv", "labels.csv", "log_density.csv", "grad.png"):
        assert (tmp_path / name).stat().st_size > 0, name
