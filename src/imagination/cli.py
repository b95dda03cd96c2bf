"""The ``imagination`` command line.

The subcommands (``allocate``, ``fidelity``) are built by the issue "Use it on your own models";
until then the command answers ``--version`` and ``--help`` and says so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``imagination`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="imagination",
        description="Companion tools for 'On Training in Imagination' (arXiv:2605.06732).",
        epilog="Subcommands for your own learning curves (allocate, fidelity) are not written yet.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help(sys.stdout)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
