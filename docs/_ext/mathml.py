"""Maths rendered at build time as MathML, which browsers draw natively.

Sphinx's default, MathJax, loads its JavaScript from a CDN: offline, the
maths shows as raw TeX. Here docutils (already required by Sphinx) converts
each formula to MathML when the docs are built, so the pages need no script,
no font download and no network; current Chromium, Firefox and Safari draw
MathML Core. A formula the converter cannot read fails the build (with
``-W``), naming it, rather than showing TeX.

Sizing commands that MathML stretches by itself (``\\big``, ``\\Big``, ...)
are dropped first: the converter does not know them.
"""

import re

from docutils import nodes
from docutils.utils.math import latex2mathml
from sphinx.util import logging

logger = logging.getLogger(__name__)

_SIZING = re.compile(r"\\(?:[bB]ig{1,2}|[bB]igg)[lrm]?(?![a-zA-Z])")


def to_mathml(tex, block):
    """MathML for ``tex``; raises where the converter cannot read it.

    Rows (``\\\\``) and alignment points (``&``) outside an environment are
    put in ``aligned``, as MathJax's display maths would take them.
    """
    tex = _SIZING.sub("", tex).replace(r"\dots", r"\ldots")
    if ("&" in tex or r"\\" in tex) and r"\begin" not in tex:
        tex = r"\begin{aligned}" + tex + r"\end{aligned}"
    return latex2mathml.tex2mathml(tex, as_block=block)


def _render(self, node, tex, block):
    try:
        mathml = to_mathml(tex, block)
    except Exception as exc:  # the converter raises more than SyntaxError
        logger.warning(
            "maths not converted to MathML (%s): %s", exc, tex, location=node
        )
        mathml = f"<code>{self.encode(tex)}</code>"
    if block:
        self.body.append(f'<div class="math notranslate">\n{mathml}\n</div>\n')
    else:
        self.body.append(f'<span class="math notranslate">{mathml}</span>')
    raise nodes.SkipNode


def visit_math(self, node):
    _render(self, node, node.astext(), block=False)


def visit_displaymath(self, node):
    # A block's equations (separated by blank lines) are rows of one system.
    parts = [p.strip() for p in re.split(r"\n\s*\n", node.astext()) if p.strip()]
    tex = r" \\ ".join(parts)
    _render(self, node, tex, block=True)


def setup(app):
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_displaymath, None))
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
