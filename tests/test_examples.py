"""Every gallery example runs to the end (matplotlib, Agg backend).

The examples need the ``examples`` extra (matplotlib); CI installs it. Each
script is run in this process with ``runpy`` (as sphinx-gallery runs them),
from a temporary directory, and its figures are closed afterwards.
"""

import runpy
import warnings
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))


@pytest.fixture
def agg_backend():
    mpl = pytest.importorskip(
        "matplotlib", reason="the examples need the 'examples' extra (matplotlib)"
    )
    mpl.use("Agg", force=True)
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_the_gallery_is_there():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, agg_backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        # plt.show() under Agg says it cannot show; that is expected here.
        warnings.filterwarnings("ignore", message=".*non-interactive.*")
        runpy.run_path(str(path), run_name="__main__")
    assert agg_backend.get_fignums(), f"{path.name} drew no figure"
