"""Sphinx configuration for the skdensity documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` after
``pip install ".[docs]"``. The gallery runs every ``examples/plot_*.py``; the
benchmark page includes the markdown tables the benchmark suite wrote to
``benchmarks/results/`` (generated here at build time, never typed by hand).
"""

import os
import re
import sys
from pathlib import Path

import skdensity

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

os.environ.setdefault("MPLBACKEND", "Agg")

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS.parent / "benchmarks" / "results"
GENERATED = DOCS / "_generated"

project = "skdensity"
author = "the skdensity developers"
copyright = "the skdensity developers"
version = release = skdensity.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "mathml",  # maths as MathML at build time: readable offline (_ext/mathml.py)
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "auto_examples/*.md",
    "_generated/*.rst",  # included into pages, not pages themselves
]
root_doc = "index"

autosummary_generate = True
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Numpydoc cross-links parameter types; sklearn/scipy names have no inventory
# offline (no intersphinx), so leave types as plain text.
numpydoc_xref_param_type = False

myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

html_math_renderer = "mathml"

html_theme = "pydata_sphinx_theme"
html_title = f"skdensity {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = ["_static"]
html_css_files = ["skdensity.css"]
# The pages without sub-pages need no left sidebar: the content takes its room.
html_sidebars = {
    "index": [],
    "getting_started": [],
    "user_guide": [],
    "cli": [],
    "changelog": [],
    "_generated/benchmarks/*": [],  # wide tables: the whole width
}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "image_scrapers": ("skdensity_docs.first_panel_thumbnail_scraper",),
    "thumbnail_size": (480, 360),
}


# ---------------------------------------------------------------------------
# Benchmark results: one page per benchmarks/results/*.md, generated per build
# ---------------------------------------------------------------------------


def _title_of(stem):
    return "Benchmark: " + stem.replace("_", " ").replace("-", " ")


def write_benchmark_pages(results=RESULTS, generated=GENERATED):
    """Copy the benchmark tables into the docs and write their toctree.

    Each ``results/NAME.md`` becomes ``_generated/benchmarks/NAME.md`` (given a
    top-level title when it has none); ``_generated/benchmark_results.rst``
    lists them, or says how to produce them when there are none.
    """
    pages = generated / "benchmarks"
    pages.mkdir(parents=True, exist_ok=True)
    for old in pages.glob("*.md"):
        old.unlink()
    sources = sorted(results.glob("*.md")) if results.is_dir() else []
    for source in sources:
        text = source.read_text(encoding="utf-8")
        if not re.match(r"\s*# ", text):
            text = f"# {_title_of(source.stem)}\n\n{text}"
        # Wide tables: no "on this page" column beside them.
        text = f"---\nhtml_theme.sidebar_secondary.remove: true\n---\n\n{text}"
        (pages / source.name).write_text(text, encoding="utf-8")
    if sources:
        entries = "\n".join(f"   _generated/benchmarks/{s.stem}" for s in sources)
        body = f".. toctree::\n   :maxdepth: 1\n\n{entries}\n"
    else:
        body = (
            ".. note::\n\n   This build found no benchmark results: "
            "``benchmarks/results/`` is empty. Run the benchmark suite (see the "
            "README) and rebuild the documentation to include its tables.\n"
        )
    target = generated / "benchmark_results.rst"
    if not target.exists() or target.read_text() != body:
        target.write_text(body)


# ---------------------------------------------------------------------------
# Docstring hooks
# ---------------------------------------------------------------------------


def skip_metadata_requests(app, what, name, obj, skip, options):
    """Hide sklearn's metadata-routing machinery (``set_*_request`` and co.)."""
    if name == "get_metadata_routing" or (
        name.startswith("set_") and name.endswith("_request")
    ):
        return True
    return None


_SHAPE_ATTRIBUTE = re.compile(r"\((\w+_),\)")


def fix_docstring_lines(app, what, name, obj, options, lines):
    """Two docstring habits that plain reStructuredText reads otherwise.

    - ``(n_features_in_,)`` in a shape: a word ending in ``_`` is a hyperlink
      reference in reStructuredText (scikit-learn quotes it); render it as
      code.
    - A parameter type continued on the next line with a trailing backslash
      (scikit-learn's style): in a raw docstring the backslash stays, so join
      the lines as a normal string literal would.
    """
    joined = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
        else:
            joined.append(line)
    lines[:] = [_SHAPE_ATTRIBUTE.sub(r"(``\1``,)", line) for line in joined]


def setup(app):
    app.connect("autodoc-skip-member", skip_metadata_requests)
    # Before numpydoc (priority 500) parses the sections.
    app.connect("autodoc-process-docstring", fix_docstring_lines, priority=400)


def write_cli_help(generated=GENERATED):
    """The ``--help`` text of the tool and of each command, for the CLI page."""
    from skdensity._cli import build_parser

    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal width
    parser = build_parser()
    commands = parser.command_parsers
    blocks = [("skdensity --help", parser.format_help())]
    blocks += [(f"skdensity {n} --help", p.format_help()) for n, p in commands.items()]
    body = ""
    for title, text in blocks:
        indented = "\n".join("   " + line if line else "" for line in text.splitlines())
        body += f".. rubric:: ``{title}``\n\n.. code-block:: text\n\n{indented}\n\n"
    GENERATED.mkdir(exist_ok=True)
    (generated / "cli_help.rst").write_text(body)


def draw_cli_picture(generated=GENERATED):
    """The cluster picture of the CLI page, drawn by the tool itself."""
    import numpy as np
    from sklearn.datasets import make_blobs

    from skdensity._cli import main

    target = generated / "cli_cluster.png"
    if target.exists():
        return
    X, _ = make_blobs(3000, centers=14, cluster_std=0.6, center_box=(-12, 12),
                      random_state=3)  # fmt: skip
    data = generated / "blobs.csv"
    np.savetxt(data, X, delimiter=",", header="u,v", comments="")
    args = ["cluster", "blobs.csv", "--bandwidth", "0.5", "-q", "-o", os.devnull]
    here = os.getcwd()
    os.chdir(generated)  # the picture's title names the file as given
    try:
        status = main([*args, "--plot", target.name])
    finally:
        os.chdir(here)
        data.unlink()
    if status != 0:
        raise RuntimeError("skdensity cluster --plot failed for the CLI page")


write_benchmark_pages()
write_cli_help()
draw_cli_picture()
