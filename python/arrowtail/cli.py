"""The ``arrowtail`` command.

Exit codes (DESIGN.md): 0 done; 2 bad input, usage or configuration (one clear line on stderr, no
traceback); 3 a source or sink still unreachable after retries.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from arrowtail import __version__
from arrowtail.exceptions import ArrowtailError, ConfigError

Handler = Callable[[argparse.Namespace], int]


def _not_yet(name: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        raise ConfigError(f"'arrowtail {name}' is not available in this version yet")

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arrowtail",
        description=(
            "Change data capture from PostgreSQL (pgoutput) and MySQL/MariaDB (binlog) "
            "into Apache Arrow, Parquet and Kafka."
        ),
    )
    parser.add_argument("--version", action="version", version=f"arrowtail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in [
        ("run", "stream changes from a source database into a sink"),
        ("snapshot", "read a consistent snapshot of the source tables into a sink"),
        ("decode", "decode pgoutput capture files or binlog files into a sink"),
        ("capture", "record a live pgoutput stream into a capture file"),
        ("status", "show source position, sink checkpoint and lag"),
        ("demo", "start a private PostgreSQL, stream a workload to Parquet, print a summary"),
    ]:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=_not_yet(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except ArrowtailError as exc:
        print(f"arrowtail: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
