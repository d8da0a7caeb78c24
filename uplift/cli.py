"""The ``uplift`` command: a thin layer that parses arguments, calls the Python API and
turns user errors into one line on stderr and exit status 2.

Each command lives in ``uplift/commands/<name>.py`` and provides
``register(subparsers) -> argparse.ArgumentParser`` whose parser sets
``func=run`` via ``set_defaults``. ``run(args) -> int`` returns the exit status.
Command modules import heavy libraries inside ``run`` so ``uplift --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from typing import Callable, Sequence

from uplift.errors import UserError
from uplift.text import one_line

__all__ = ["main", "COMMANDS", "add_common", "whole_number"]

COMMANDS: tuple[str, ...] = ("demo", "simulate", "design", "assign", "check", "readout", "monitor", "target", "rules",
                         "registry", "programme")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``uplift readout: error: ... (see --help)``, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, say(f"{self.prog}: error: {message} (see {self.prog} --help)"))


def say(message: str) -> str:
    """The one place a message is made ready for stderr: one line, control characters escaped
    (:func:`uplift.text.one_line`), so text from a spec or data file never drives the terminal."""
    return one_line(message) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command registered."""
    from uplift import __version__

    parser = _Parser(
        prog="uplift",
        description="A/B experiments and uplift modelling for cross-selling: design, assign, check, read out, target.",
    )
    parser.add_argument("--version", action="version", version=f"uplift {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"uplift.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"uplift.commands.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def whole_number(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in [lo, hi] (``hi`` None: no upper bound), written as digits
    or as a whole number in e-notation (``1e6``); anything else is a one-line argparse error naming the range."""
    span = f"from {lo:,} to {hi:,}" if hi is not None else f"of at least {lo:,}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                f = math.nan
            if not (math.isfinite(f) and f == int(f)):
                raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one {span}") from None
            value = int(f)
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a whole number {span}")
        return value

    parse.__name__ = "whole number"
    return parse


def add_common(parser: argparse.ArgumentParser, json_flag: bool = False) -> None:
    """Flags shared by commands: ``--quiet`` (no progress bars) and optionally ``--json``."""
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print the result as JSON")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``uplift`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        sys.stderr.write(say(f"uplift {args.command}: error: {exc}"))
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(say(f"uplift {args.command}: interrupted"))
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `uplift rules ... | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        # The environment refused (disk full, no permission to write the output): one line, exit 2.
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(say(f"uplift {args.command}: error: {exc.strerror or exc}{where}; "
                             "check the path, its permissions and free space"))
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
