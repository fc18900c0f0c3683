"""What the CLI commands do, as plain functions: build the source, sink and transforms from the
configuration, run the pipeline with metrics and signals, decode files, report status (``capture``
lives in :mod:`arrowtail.capture`)."""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from arrowtail import lasterror
from arrowtail.config import Config
from arrowtail.exceptions import ArrowtailError, ConfigError
from arrowtail.lazy import call
from arrowtail.pipeline import Pipeline, Summary
from arrowtail.redact import redact_url
from arrowtail.sinks import open_sink
from arrowtail.sources.base import Chunk, PositionJSON, Source, SourcePosition

log = logging.getLogger("arrowtail.run")

InstallSignals = Callable[[Callable[[str], None]], None]


def build_source(cfg: Config, *, row_lsn: bool = False) -> Source:
    """The configured source; ``row_lsn``: a PostgreSQL source gives each change its own WAL
    position (``_lsn``, ``_last_commit_lsn``) and a MySQL/MariaDB source its transaction's GTID
    (``_gtid``), for a sink that names them (the Kafka sink's Debezium encoders)."""
    src = cfg.source
    password = src.password()
    if src.kind == "postgres":
        from arrowtail.sources.postgres.source import PostgresSource

        return PostgresSource(
            src.url,
            slot=src.slot,
            publication=src.publication,
            tables=src.tables,
            snapshot=src.snapshot,
            password=password,
            heartbeat_interval=src.heartbeat_interval,
            snapshot_chunk_rows=src.snapshot_chunk_rows,
            snapshot_workers=src.snapshot_workers,
            incremental_chunk_rows=src.incremental_chunk_rows,
            toast_reselect=src.toast_reselect,
            wire=src.wire,
            memory_budget=src.memory_budget,
            spill_dir=src.spill_dir,
            row_lsn=row_lsn,
        )
    from arrowtail.sources.mysql.source import MySqlSource

    return MySqlSource(
        src.url,
        password=password,
        server_id=src.server_id,
        tables=src.tables,
        snapshot=src.snapshot,
        resume_by=src.resume_by,
        memory_budget=src.memory_budget,
        spill_dir=src.spill_dir,
        row_gtid=row_lsn,
    )


def run_pipeline(cfg: Config, install_signals: InstallSignals | None = None) -> Summary:
    """Runs ``arrowtail run`` for a validated configuration."""
    from arrowtail.checkpoint import CheckpointFile
    from arrowtail.observability import BackgroundProbe, LagWatch, MetricsServer, default_metrics
    from arrowtail.transforms import TableTransform

    sink = open_sink(cfg.sink.url, create_tables=cfg.sink.create_tables, outbox=cfg.sink.outbox)
    checkpoint = CheckpointFile(cfg.run.checkpoint) if cfg.run.checkpoint else None
    if checkpoint is not None and checkpoint.path.exists() and not checkpoint.path.is_file():
        # It is replaced by rename at every save: a device or a folder cannot be.
        raise ConfigError(
            f"run.checkpoint {checkpoint.path} is not a regular file; name a file (it is "
            "created when missing)"
        )
    stores_position = getattr(sink, "stores_position", False)  # Kafka with exactly_once
    if checkpoint is None and cfg.sink.kind == "kafka" and not stores_position:
        raise ConfigError(
            "the kafka sink keeps no checkpoint of its own: pass --checkpoint PATH so a restart "
            "resumes where the last delivered change left off (or use ?exactly_once=true, "
            "which stores the position in Kafka)"
        )
    source = build_source(cfg, row_lsn=getattr(sink, "wants_row_lsn", False))
    transform = TableTransform(cfg.transform)
    metrics = default_metrics()
    server = None
    if cfg.run.metrics_port:
        try:
            server = MetricsServer(metrics, cfg.run.metrics_port).start()
        except OSError as exc:
            raise ConfigError(
                f"run.metrics_port {cfg.run.metrics_port}: cannot serve metrics on "
                f"127.0.0.1:{cfg.run.metrics_port}: {exc.strerror or exc}; pick a free port"
            ) from None

    watch = LagWatch(cfg.run.lag_warn_bytes, cfg.run.lag_warn_seconds)
    # Lag needs a query on the source: every lag_check_interval, on a thread of its own, and
    # only when someone scrapes the metrics or a warning threshold is set.
    probe = (
        BackgroundProbe(source.describe, cfg.run.lag_check_interval)
        if server is not None or watch.enabled
        else None
    )

    def on_progress(summary: Summary) -> None:
        # Only the counts this poll changed (a snapshot of many tables polls once per table).
        for table, op in summary.take_touched():
            metrics.set("arrowtail_rows_total", summary.by_table_op[table, op], table=table, op=op)
        metrics.set("arrowtail_batches_total", summary.batches)
        if probe is None:
            return
        if not probe.started:
            probe.start()  # once the source is open
        info = probe.take()
        if info is None:
            return
        for key, name in (
            ("lag_bytes", "arrowtail_lag_bytes"),
            ("lag_seconds", "arrowtail_lag_seconds"),
            ("retained_wal_bytes", "arrowtail_retained_wal_bytes"),
            ("reconnects", "arrowtail_reconnects_total"),
        ):
            if key in info:
                metrics.set(name, float(info[key]))
        metrics.set("arrowtail_lag_warning", 1.0 if watch.check(info) else 0.0)

    pipeline = Pipeline(
        source,
        sink,
        checkpoint=checkpoint,
        checkpoint_interval=cfg.run.checkpoint_interval,
        idle_exit=cfg.run.idle_exit,
        # A pass-through transform would still cost a call per batch.
        transforms=[] if transform.changes_nothing else [transform],
        on_progress=on_progress,
    )
    if install_signals is not None:
        install_signals(pipeline.stop)
    log.info("source %s -> sink %s", redact_url(cfg.source.url), redact_url(cfg.sink.url))
    error_file = lasterror.error_file(cfg.sink.url, cfg.run.checkpoint)
    # What start-up made (modules, the libraries' tables) lives as long as the process: moved out
    # of the cyclic collector's sight, a full collection scans only what the run keeps, and its
    # pause — tens of milliseconds over every loaded module — no longer lands on a change's way.
    gc.collect()  # garbage still uncollected would otherwise be kept for good
    gc.freeze()
    try:
        summary = pipeline.run()
    except ArrowtailError as exc:
        lasterror.record(error_file, str(exc))
        raise
    finally:
        if probe is not None:
            probe.close()
        if server is not None:
            server.stop()
    lasterror.clear(error_file)
    return summary


def decode_files(fmt: str, inputs: list[str], to: str) -> Summary:
    """Runs ``arrowtail decode``."""
    from arrowtail.sources.files import FileSource

    if to.startswith("kafka://"):
        raise ConfigError("decode writes to parquet:DIR or jsonl:FILE; use 'run' for Kafka")
    return Pipeline(AfterStored(FileSource(fmt, inputs)), open_sink(to)).run()


class AfterStored:
    """A file source resuming an output that already holds changes: the files are decoded from
    their start (the decoders need the table definitions in them), and what the output stores
    already, every change at or before its stored position, is left out. Decoding the same
    files again into the same output then adds nothing; decoding more files adds only the new
    changes."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self._after: SourcePosition | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def open(self, start: PositionJSON | None) -> None:
        if start is not None:
            try:
                self._after = self.source.position_type.from_json(start)
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(
                    f"the output holds a position this input cannot be compared with ({exc}); "
                    "decode into a new output"
                ) from None
            log.info("the output holds changes up to %s: decoding what comes after", start)
        self.source.open(None)

    def poll(self, timeout: float) -> Chunk:
        chunk = self.source.poll(timeout)
        if self._after is None:
            return chunk
        after = self._after.order
        batches = []
        for table, version, batch in chunk.batches:
            newer = call("greater", batch.column("_pos"), pa.scalar(after, pa.uint64()))
            kept = batch.filter(newer)
            if kept.num_rows:
                batches.append((table, version, kept))
        position = chunk.position
        if position is not None and self.source.position_type.from_json(position) <= self._after:
            position = None  # stored already; committing it again would move the output back
        return Chunk(batches, position, exhausted=chunk.exhausted, busy=chunk.busy)

    def acknowledge(self, position: PositionJSON) -> None:
        self.source.acknowledge(position)

    def close(self) -> None:
        self.source.close()

    def describe(self) -> dict[str, Any]:
        return dict(self.source.describe())


def status(args: Any) -> int:
    """Runs ``arrowtail status``: checkpoint, slot position, lag and retained WAL, as a table or
    JSON. With ``--lag-warn-bytes``/``--lag-warn-seconds`` it exits 1 when a threshold is passed
    (like ``verify`` on differences), for cron jobs and health checks."""
    from arrowtail.config import check_url
    from arrowtail.observability import LagWatch

    for flag, value in (("--source", args.source), ("--to", args.to)):
        if value:
            check_url(flag, value)
    report: dict[str, Any] = {}
    if args.to:
        sink = open_sink(args.to)
        report["sink"] = redact_url(args.to)
        stored = getattr(sink, "stored_position", None)
        if stored is not None:
            # Read only: opening would clean up after a run that may still be going.
            report["sink_checkpoint"] = stored()
        else:
            report["sink_checkpoint"] = sink.open()
            sink.close()
    if args.checkpoint:
        from arrowtail.checkpoint import CheckpointFile

        report["checkpoint"] = CheckpointFile(args.checkpoint).load()
    if args.source:
        from arrowtail.config import SourceConfig

        src = SourceConfig(url=args.source, password_env=args.password_env)
        if not src.kind:
            raise ConfigError(
                "--source must be a postgresql:// or mysql:// URL or a libpq key=value string"
            )
        password = src.password()
        report["source"] = redact_url(args.source)
        if src.kind == "postgres":
            import psycopg

            from arrowtail.sources.postgres import admin as pg_admin

            dsn = args.source
            if password:
                dsn = psycopg.conninfo.make_conninfo(args.source, password=password)
            with pg_admin.connect(dsn) as conn:
                report.update(pg_admin.slot_report(conn, args.slot))
        else:
            from arrowtail.sources.mysql.status import mysql_status

            stored = report.get("sink_checkpoint") or report.get("checkpoint")
            report.update(mysql_status(args.source, password, stored))
    for key in ("sink_checkpoint", "checkpoint"):
        if key in report:
            report[key] = _brief_position(report[key])
    error = lasterror.load(lasterror.error_file(args.to, args.checkpoint))
    if error is not None:
        report["last_error"] = f"{error.get('time')}: {error.get('error')}"
    if not report:
        print("nothing to report: pass --source, --to or --checkpoint", file=sys.stderr)
        return 2
    watch = LagWatch(
        getattr(args, "lag_warn_bytes", None),
        getattr(args, "lag_warn_seconds", None),
        logger=logging.getLogger("arrowtail.status"),
    )
    if watch.enabled:
        # The age of unstored changes is known only to a running pipeline; the server's own
        # flush lag of the walsender stands in for it here.
        seconds = report.get("flush_lag_seconds", 0.0)
        report["lag_warning"] = watch.check({**report, "lag_seconds": seconds})
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render_status(report))
    return 1 if report.get("lag_warning") else 0


#: Keys of ``status`` shown as byte sizes in the human table.
_BYTE_KEYS = ("lag_bytes", "retained_wal_bytes", "safe_wal_bytes")


def render_status(report: dict[str, Any]) -> str:
    """The human table of ``arrowtail status``: one aligned line per item, sizes readable,
    positions as ``key=value`` pairs."""
    from arrowtail.observability import human_bytes

    width = max((len(k) for k in report), default=0)
    lines = []
    for key, value in report.items():
        if key in _BYTE_KEYS and isinstance(value, int):
            shown = f"{human_bytes(value)} ({value:,} bytes)"
        elif key == "flush_lag_seconds" and isinstance(value, float):
            shown = f"{value:.1f}s"
        elif isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif value is None:
            shown = "-"
        else:
            shown = str(value)
        lines.append(f"{key:<{width}}  {shown}")
    return "\n".join(lines)


def _brief_position(position: Any) -> Any:
    """A checkpoint position for ``status``: a MySQL schema history is summed up as its number
    of tables, the progress of a PostgreSQL initial snapshot as its tables stored whole and
    started, rather than printed in full."""
    if not isinstance(position, dict):
        return position
    brief = dict(position)
    if "schemas" in brief:
        brief["schema_history_tables"] = len(brief.pop("schemas") or [])
    progress = brief.pop("snapshot_progress", None)
    if isinstance(progress, dict):
        tables = progress.get("tables", {})
        brief["snapshot_tables_done"] = sum(1 for t in tables.values() if t.get("done"))
        brief["snapshot_tables_started"] = sum(1 for t in tables.values() if not t.get("done"))
    return brief
