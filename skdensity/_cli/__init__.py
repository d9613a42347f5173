"""The ``skdensity`` command line (``python -m skdensity``)."""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
