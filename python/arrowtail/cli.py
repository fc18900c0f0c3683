"""The ``arrowtail`` command.

Exit codes (docs/design.md): 0 done; 2 bad input, usage or configuration (one line on stderr, no
traceback); 3 a source or sink still unreachable after retries. ``verify`` exits 1 when it finds
differences, ``status`` when a lag threshold is passed. An unexpected error (a bug) exits
:data:`EXIT_UNEXPECTED`, 70 (``EX_SOFTWARE`` of sysexits.h), so that 1 keeps its meaning.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from arrowtail import __version__
from arrowtail.exceptions import ArrowtailError
from arrowtail.redact import scrub

Handler = Callable[[argparse.Namespace], int]

#: Exit code of an error arrowtail did not expect (sysexits.h ``EX_SOFTWARE``).
EXIT_UNEXPECTED = 70

EXIT_CODES = """\
exit codes:
  0   done
  1   verify found differences; status found a lag threshold passed
  2   bad input, usage or configuration (one line on stderr)
  3   a source or sink still unreachable after retries
  70  unexpected error (please report it; ARROWTAIL_DEBUG=1 shows the traceback)
"""

log = logging.getLogger("arrowtail.cli")

RUN_EXAMPLE = """\
examples:
  arrowtail run --source postgresql://cdc@db:5432/shop --to parquet:/data/cdc --idle-exit 30
  arrowtail run --source mysql://cdc@db:3306/ --to kafka://127.0.0.1:9092?topic_prefix=shop
  arrowtail run --source mysql://cdc@db:3306/ \\
      --to 'kafka://127.0.0.1:9092?topic_prefix=shop&format=avro&registry=http://registry:8081'
  ARROWTAIL_SOURCE_PASSWORD_ENV=PGPASS arrowtail run --config arrowtail.toml

Passwords: put them in an environment variable named by --password-env (or
source.password_env in the TOML file); a password inside a URL works but is masked everywhere.
"""

DECODE_EXAMPLE = """\
examples:
  arrowtail decode --format binlog /var/lib/mysql/mysql-bin.000042 --to parquet:/tmp/out
  arrowtail decode --format pgoutput capture.bin --to jsonl:-

Decoding into an output that already holds changes (a Parquet directory, a database target)
continues after its stored position: the same files decoded again add nothing.
"""


def _add_run_options(p: argparse.ArgumentParser, *, snapshot: bool = True) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML configuration file (flags override it)")
    p.add_argument(
        "--source",
        metavar="URL",
        help="postgresql://USER@HOST:PORT/DB (or libpq's 'host=H dbname=DB user=U') or "
        "mysql://USER@HOST:PORT/ (libpq options such as sslmode pass through as query "
        "parameters)",
    )
    p.add_argument(
        "--password-env", metavar="VAR", help="environment variable holding the source password"
    )
    p.add_argument(
        "--to",
        metavar="SINK",
        help="parquet:DIR | kafka://HOST:PORT[?topic_prefix=P] | jsonl:FILE | jsonl:- (stdout) | "
        "iceberg:DIR[?mode=mirror|changelog] | delta:DIR[?mode=...] | "
        "postgresql://USER@HOST/DB | mysql://USER@HOST/DB (apply to a database; its password in "
        "ARROWTAIL_TARGET_PASSWORD)",
    )
    p.add_argument(
        "--create-tables",
        action="store_true",
        default=None,
        help="database targets: create missing tables and columns from the source schema",
    )
    p.add_argument("--slot", help="PostgreSQL replication slot (created if missing)")
    p.add_argument("--publication", help="PostgreSQL publication (created if missing)")
    p.add_argument("--server-id", type=int, help="MySQL replica server id (default 7301)")
    p.add_argument(
        "--resume-by",
        choices=["position", "gtid"],
        help="MariaDB: resume the binlog by file/offset (default) or by the stored GTID state",
    )
    p.add_argument(
        "--wire",
        choices=["native", "libpq"],
        help="PostgreSQL: arrowtail's own wire client (default) or libpq, for authentication "
        "methods only libpq speaks (Kerberos, GSSAPI, SSPI)",
    )
    p.add_argument(
        "--tables",
        metavar="LIST",
        help="comma-separated schema.table names to capture (default: all); MySQL/MariaDB: "
        "names may use shell wildcards (shop.order_*); PostgreSQL 15+: "
        "each may carry a column list and a row filter for the publication arrowtail creates, "
        "e.g. \"public.orders (id, status, total) WHERE (status <> 'draft')\"",
    )
    p.add_argument(
        "--include-columns",
        metavar="LIST",
        help="schema.table.column names (wildcards allowed in the table part): a table named "
        "here keeps only these columns",
    )
    p.add_argument(
        "--exclude-columns",
        metavar="LIST",
        help="schema.table.column names left out of every change",
    )
    p.add_argument(
        "--key-columns",
        metavar="SPEC",
        help="key columns per table, as Debezium's message.key.columns: "
        "'schema.table:col1,col2;other.table:col' (for tables without a primary key, or to "
        "key by other columns)",
    )
    if snapshot:
        p.add_argument(
            "--snapshot",
            choices=["initial", "never"],
            help="read existing rows first (initial) or only stream new changes (never)",
        )
    p.add_argument(
        "--memory-budget",
        type=int,
        metavar="BYTES",
        help="bytes of an open transaction held in memory (default 268435456, 256 MiB); past "
        "it, PostgreSQL rows are handed on before their commit, MySQL/MariaDB rows wait on disk",
    )
    p.add_argument(
        "--spill-dir",
        metavar="DIR",
        help="where a transaction past --memory-budget waits for its commit (MySQL/MariaDB; "
        "PostgreSQL streamed and prepared transactions) "
        "(default: the system's temporary directory)",
    )
    p.add_argument(
        "--snapshot-chunk-rows",
        type=int,
        metavar="N",
        help="PostgreSQL: rows per primary-key chunk of an initial snapshot (default 100000)",
    )
    p.add_argument(
        "--snapshot-workers",
        type=int,
        metavar="N",
        help="PostgreSQL: connections reading an initial snapshot together, in one shared "
        "snapshot (default 2)",
    )
    p.add_argument(
        "--incremental-chunk-rows",
        type=int,
        metavar="N",
        help="PostgreSQL: rows per chunk of an incremental snapshot (default 10000)",
    )
    p.add_argument(
        "--toast-reselect",
        action="store_const",
        const=True,
        help="PostgreSQL: fill unchanged TOAST values of updates with the row's current values, "
        "read by primary key (they may be newer than the change)",
    )
    p.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="checkpoint file for sinks that keep none of their own (Kafka, JSONL)",
    )
    p.add_argument(
        "--checkpoint-interval",
        type=float,
        metavar="SEC",
        help="save the checkpoint file at most every SEC seconds (default 1; 0 saves after "
        "every stored transaction); a crash sends again what the last save did not cover",
    )
    p.add_argument(
        "--idle-exit",
        type=float,
        metavar="SEC",
        help="stop cleanly (flushed, checkpointed, acknowledged) after SEC idle seconds",
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        metavar="SEC",
        help="PostgreSQL: write a heartbeat message every SEC seconds so the slot advances while "
        "the published tables are quiet (off by default; e.g. --heartbeat 10)",
    )
    p.add_argument(
        "--lag-warn-bytes",
        type=int,
        metavar="N",
        help="log a warning when the source lag or the slot's retained WAL passes N bytes "
        "(e.g. --lag-warn-bytes 1073741824)",
    )
    p.add_argument(
        "--lag-warn-seconds",
        type=float,
        metavar="SEC",
        help="log a warning when the oldest change not yet stored is older than SEC seconds",
    )
    p.add_argument("--log-format", choices=["text", "json"], help="log line format")
    p.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on 127.0.0.1"
    )


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {
        "source": {
            "url": args.source,
            "password_env": args.password_env,
            "slot": args.slot,
            "publication": args.publication,
            "server_id": args.server_id,
            "resume_by": args.resume_by,
            "wire": args.wire,
            "tables": args.tables,
            "snapshot": getattr(args, "snapshot", None),
            "heartbeat_interval": args.heartbeat,
            "snapshot_chunk_rows": args.snapshot_chunk_rows,
            "snapshot_workers": args.snapshot_workers,
            "incremental_chunk_rows": args.incremental_chunk_rows,
            "toast_reselect": args.toast_reselect,
            "memory_budget": args.memory_budget,
            "spill_dir": args.spill_dir,
        },
        "sink": {"url": args.to, "create_tables": args.create_tables},
        "transform": {
            "include_columns": args.include_columns,
            "drop_columns": args.exclude_columns,
            "key_columns": args.key_columns,
        },
        "run": {
            "checkpoint": args.checkpoint,
            "checkpoint_interval": args.checkpoint_interval,
            "idle_exit": args.idle_exit,
            "log_format": args.log_format,
            "metrics_port": args.metrics_port,
            "lag_warn_bytes": args.lag_warn_bytes,
            "lag_warn_seconds": args.lag_warn_seconds,
        },
    }


def _install_signal_handlers(stop: Callable[[str], None]) -> None:
    """First SIGINT/SIGTERM: stop cleanly. Second: exit at once, acknowledging nothing more."""
    state = {"signalled": False}

    def handler(signum: int, frame: Any) -> None:
        if state["signalled"]:
            os._exit(130)
        state["signalled"] = True
        stop(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def cmd_run(args: argparse.Namespace) -> int:
    from arrowtail import config as config_mod
    from arrowtail.observability import setup_logging
    from arrowtail.runner import run_pipeline

    cfg = config_mod.load(args.config, overrides=_overrides(args))
    setup_logging(cfg.run.log_format)
    summary = run_pipeline(cfg, install_signals=_install_signal_handlers)
    print(summary.render(), file=sys.stderr)
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    if args.incremental:
        return _request_incremental(args)
    args.snapshot = "initial"
    args.idle_exit = 0.0 if args.idle_exit is None else args.idle_exit
    return cmd_run(args)


def _request_incremental(args: argparse.Namespace) -> int:
    """``snapshot --incremental``: signal the running PostgreSQL source, then return."""
    from arrowtail import config as config_mod
    from arrowtail.exceptions import ConfigError
    from arrowtail.sources.postgres.incremental import request_snapshot
    from arrowtail.tables import parse_all as parse_tables

    overrides = _overrides(args)
    overrides["sink"] = {"url": "jsonl:-"}  # no sink: the running source writes to its own
    cfg = config_mod.load(args.config, overrides=overrides)
    if cfg.source.kind != "postgres":
        raise ConfigError("--incremental works with a postgresql:// source")
    password = cfg.source.password()
    names = [spec.name for spec in parse_tables(cfg.source.tables)]
    snapshot_id = request_snapshot(cfg.source.url, names, password=password)
    print(f"requested incremental snapshot {snapshot_id}", file=sys.stderr)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from arrowtail.observability import setup_logging
    from arrowtail.runner import decode_files

    setup_logging("text")
    summary = decode_files(args.format, args.inputs, args.to)
    print(summary.render(), file=sys.stderr)
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    from arrowtail.capture import capture
    from arrowtail.observability import setup_logging

    setup_logging("text")
    n = capture(
        args.source,
        slot=args.slot,
        publication=args.publication,
        out=args.out,
        idle_exit=args.idle_exit,
        password_env=args.password_env,
        install_signals=_install_signal_handlers,
    )
    print(f"captured {n} messages into {args.out}", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from arrowtail.runner import status

    return status(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from arrowtail.demo import main as demo_main

    return demo_main(args)


def cmd_maintain(args: argparse.Namespace) -> int:
    from arrowtail.sinks.lake.maintain import maintain

    for m in maintain(args.to, retain_hours=args.retain_hours, compact=not args.no_compact):
        print(f"{m.table}: {m.files_before} -> {m.files_after} data files, {m.expired} expired")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from arrowtail.verify.compare import main_verify

    return int(main_verify(args))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. ``command``: the subcommand about to be parsed, when known;
    the ``verify`` options (whose module imports the database and Parquet readers) are then
    added only for ``verify`` itself, which keeps ``arrowtail run``'s start-up short."""
    parser = argparse.ArgumentParser(
        prog="arrowtail",
        description=(
            "Change data capture from PostgreSQL (pgoutput) and MySQL/MariaDB (binlog) "
            "into Apache Arrow, Parquet and Kafka."
        ),
        epilog="Run 'arrowtail COMMAND --help' for a command's options and examples.\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"arrowtail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "run",
        help="stream changes from a source database into a sink",
        epilog=RUN_EXAMPLE,
        formatter_class=fmt,
    )
    _add_run_options(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser(
        "snapshot",
        help="read a consistent snapshot of the source tables into a sink, then stop",
        epilog=RUN_EXAMPLE,
        formatter_class=fmt,
    )
    _add_run_options(p, snapshot=False)
    p.add_argument(
        "--incremental",
        action="store_true",
        help="PostgreSQL: ask the running 'arrowtail run' of this database to snapshot --tables "
        "while it streams (watermarked chunks, no locks), then return at once",
    )
    p.set_defaults(handler=cmd_snapshot)

    p = sub.add_parser(
        "decode",
        help="decode pgoutput capture files or binlog files into a sink",
        epilog=DECODE_EXAMPLE,
        formatter_class=fmt,
    )
    p.add_argument("--format", required=True, choices=["pgoutput", "binlog"])
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="capture or binlog files, in order")
    p.add_argument("--to", required=True, metavar="SINK", help="parquet:DIR | jsonl:FILE | jsonl:-")
    p.set_defaults(handler=cmd_decode)

    p = sub.add_parser(
        "capture",
        help="record a live pgoutput stream into a capture file",
        epilog="example:\n  arrowtail capture --source postgresql://cdc@db/shop --slot s "
        "--publication p --out cap.bin --idle-exit 5\n",
        formatter_class=fmt,
    )
    p.add_argument("--source", required=True, metavar="URL")
    p.add_argument("--password-env", metavar="VAR")
    p.add_argument("--slot", default="arrowtail")
    p.add_argument("--publication", default="arrowtail")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--idle-exit", type=float, metavar="SEC")
    p.set_defaults(handler=cmd_capture)

    p = sub.add_parser(
        "status",
        help="show source position, sink checkpoint and lag",
        epilog="example:\n  arrowtail status --source postgresql://cdc@db/shop --slot arrowtail "
        "--to parquet:/data/cdc --json\n  arrowtail status --source postgresql://cdc@db/shop "
        "--lag-warn-bytes 1073741824   # exit 1 past 1 GiB\n",
        formatter_class=fmt,
    )
    p.add_argument("--source", metavar="URL")
    p.add_argument("--password-env", metavar="VAR")
    p.add_argument("--slot", default="arrowtail")
    p.add_argument("--to", metavar="SINK")
    p.add_argument("--checkpoint", metavar="PATH")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--lag-warn-bytes",
        type=int,
        metavar="N",
        help="exit 1 (and say lag_warning) when the slot's lag or retained WAL passes N bytes",
    )
    p.add_argument(
        "--lag-warn-seconds",
        type=float,
        metavar="SEC",
        help="exit 1 when the walsender's flush lag passes SEC seconds",
    )
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser(
        "demo",
        help="start a private PostgreSQL, stream a workload to Parquet, print a summary",
    )
    p.add_argument("--out", metavar="DIR", help="keep the Parquet output here (default: temp dir)")
    p.add_argument("--rows", type=int, default=20000, help="size of the workload (default 20000)")
    p.add_argument(
        "--to",
        metavar="SINK",
        help="iceberg:DIR or delta:DIR: keep a mirror of the tables there instead of Parquet files",
    )
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser(
        "maintain",
        help="compact the lake sinks' tables and expire old snapshots",
        epilog="example:\n  arrowtail maintain --to iceberg:/data/lake --retain-hours 24\n",
        formatter_class=fmt,
    )
    p.add_argument("--to", required=True, metavar="SINK", help="iceberg:DIR | delta:DIR")
    p.add_argument(
        "--retain-hours",
        type=float,
        default=168.0,
        help="keep snapshots and removed files this long (default 168: time travel for a week)",
    )
    p.add_argument("--no-compact", action="store_true", help="only expire, do not compact")
    p.set_defaults(handler=cmd_maintain)

    p = sub.add_parser(
        "verify",
        help="compare source tables with a target database or Parquet directory",
        epilog="example:\n  arrowtail verify --source postgresql://u@old/shop "
        "--against postgresql://u@new/shop --tables public.orders\n",
        formatter_class=fmt,
    )
    if command in (None, "verify"):
        from arrowtail.verify.compare import add_verify_arguments

        add_verify_arguments(p)
    p.set_defaults(handler=cmd_verify)
    for p in sub.choices.values():
        p.epilog = f"{p.epilog}\n{EXIT_CODES}" if p.epilog else EXIT_CODES
        p.formatter_class = fmt
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything imports numpy (pyarrow does): its OpenBLAS starts a thread per core that
    # spins through start-up, on the cores the run needs, and no command multiplies matrices.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Arrow's own buffers (Parquet pages, casts, concatenations) from its jemalloc pool, not the
    # Linux wheels' default mimalloc, which backs its arenas with transparent huge pages: every
    # first touch of one zeroes 2 MiB, and a snapshot keeps touching fresh memory. On the 2M-row
    # benchmark snapshot that zeroing was an eighth of the process's CPU; with jemalloc the run
    # took 0.2 s less CPU and 2.785 s against 2.976 s (medians of 10 alternated rounds, 9
    # faster). Read when Arrow first allocates; a user's own setting is kept.
    if sys.platform == "linux":
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    words = list(sys.argv[1:] if argv is None else argv)
    # The first word not starting with '-' names the subcommand (no top-level option takes a
    # value); anything else gets the full parser.
    command = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(words)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except ArrowtailError as exc:
        print(f"arrowtail: error: {scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no secrets
        if os.environ.get("ARROWTAIL_DEBUG"):
            raise
        print(
            f"arrowtail: unexpected error ({type(exc).__name__}): {scrub(str(exc)).strip()} "
            "(set ARROWTAIL_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
