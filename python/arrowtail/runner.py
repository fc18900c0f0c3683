"""What the CLI commands do, as plain functions: build the source, sink and transforms from the
configuration, run the pipeline with metrics and signals, decode files, capture a stream."""

from __future__ import annotations

import json
import logging
import os
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from arrowtail.config import Config
from arrowtail.exceptions import ConfigError, SourceError
from arrowtail.pipeline import Pipeline, Summary
from arrowtail.redact import redact_url
from arrowtail.sinks import open_sink
from arrowtail.sources.base import Source

log = logging.getLogger("arrowtail.run")

InstallSignals = Callable[[Callable[[str], None]], None]


def build_source(cfg: Config) -> Source:
    src = cfg.source
    password = src.password()
    if src.kind == "postgres":
        from arrowtail.sources.postgres import PostgresSource

        return PostgresSource(
            src.url,
            slot=src.slot,
            publication=src.publication,
            tables=src.tables,
            snapshot=src.snapshot,
            password=password,
            wire=src.wire,
        )
    from arrowtail.sources.mysql import MySqlSource

    return MySqlSource(
        src.url,
        password=password,
        server_id=src.server_id,
        tables=src.tables,
        snapshot=src.snapshot,
        resume_by=src.resume_by,
    )


def run_pipeline(cfg: Config, install_signals: InstallSignals | None = None) -> Summary:
    """Runs ``arrowtail run`` for a validated configuration."""
    from arrowtail.checkpoint import CheckpointFile
    from arrowtail.observability import MetricsServer, default_metrics
    from arrowtail.transforms import TableTransform

    sink = open_sink(cfg.sink.url)
    checkpoint = CheckpointFile(cfg.run.checkpoint) if cfg.run.checkpoint else None
    if checkpoint is None and cfg.sink.kind == "kafka":
        raise ConfigError(
            "the kafka sink keeps no checkpoint of its own: pass --checkpoint PATH so a restart "
            "resumes where the last delivered change left off"
        )
    source = build_source(cfg)
    transform = TableTransform(cfg.transform)
    metrics = default_metrics()
    server = MetricsServer(metrics, cfg.run.metrics_port).start() if cfg.run.metrics_port else None

    last_describe = [0.0]

    def on_progress(summary: Summary) -> None:
        for (table, op), n in summary.by_table_op.items():
            metrics.set("arrowtail_rows_total", n, table=table, op=op)
        metrics.set("arrowtail_batches_total", summary.batches)
        # Lag needs a query on the source: every 10 s at most, and only when someone scrapes.
        now = time.monotonic()
        if server is not None and now - last_describe[0] >= 10.0:
            last_describe[0] = now
            info = source.describe()
            for key, name in (
                ("lag_bytes", "arrowtail_lag_bytes"),
                ("lag_seconds", "arrowtail_lag_seconds"),
                ("reconnects", "arrowtail_reconnects_total"),
            ):
                if key in info:
                    metrics.set(name, float(info[key]))

    pipeline = Pipeline(
        source,
        sink,
        checkpoint=checkpoint,
        idle_exit=cfg.run.idle_exit,
        transforms=[transform],
        on_progress=on_progress,
    )
    if install_signals is not None:
        install_signals(pipeline.stop)
    log.info("source %s -> sink %s", redact_url(cfg.source.url), redact_url(cfg.sink.url))
    try:
        return pipeline.run()
    finally:
        if server is not None:
            server.stop()


def decode_files(fmt: str, inputs: list[str], to: str) -> Summary:
    """Runs ``arrowtail decode``."""
    from arrowtail.sources.files import FileSource

    if to.startswith("kafka://"):
        raise ConfigError("decode writes to parquet:DIR or jsonl:FILE; use 'run' for Kafka")
    return Pipeline(FileSource(fmt, inputs), open_sink(to)).run()


def capture(
    source: str,
    *,
    slot: str,
    publication: str,
    out: str,
    idle_exit: float | None,
    password_env: str | None = None,
    install_signals: InstallSignals | None = None,
) -> int:
    """Runs ``arrowtail capture``: records the slot's pgoutput messages into a capture file
    (``[u64 BE LSN][u32 BE length][message]`` per message), acknowledging what was written and
    fsynced. Returns the number of messages written."""
    from arrowtail.config import SourceConfig
    from arrowtail.sources import pg_admin
    from arrowtail.sources.pgwire import start_replication
    from arrowtail.sources.postgres import protocol_for

    src = SourceConfig(url=source, password_env=password_env)
    password = src.password()
    dsn = source
    if password:
        import psycopg

        dsn = psycopg.conninfo.make_conninfo(source, password=password)
    with pg_admin.connect(dsn) as conn:
        version = pg_admin.check_server(conn)
        pg_admin.ensure_publication(conn, publication, [])
        if pg_admin.get_slot(conn, slot) is None:
            repl = pg_admin.connect_replication(dsn)
            try:
                pg_admin.create_slot(repl, slot, export_snapshot=False)
            finally:
                repl.close()
    options = protocol_for(version)
    stop: dict[str, str] = {}

    def request_stop(reason: str) -> None:
        stop.setdefault("reason", reason)

    if install_signals is not None:
        install_signals(request_stop)
    stream = start_replication(dsn, slot, [publication], **options)
    written = 0
    last_data = last_status = time.monotonic()
    flushed = 0
    try:
        with open(out, "ab") as f:
            while "reason" not in stop:
                data = stream.read(0.5)
                now = time.monotonic()
                kind = data[:1] if data else b""
                if kind == b"w" and data is not None and len(data) >= 25:
                    (lsn,) = struct.unpack_from(">Q", data, 1)
                    payload = data[25:]
                    f.write(struct.pack(">QI", lsn, len(payload)))
                    f.write(payload)
                    written += 1
                    last_data = now
                    flushed = max(flushed, lsn)
                # Status goes out when a keepalive asks for it and every 10 s, after an fsync,
                # acknowledging only what the file holds. Answering every keepalive would make
                # the server send the next one at once.
                reply = kind == b"k" and data is not None and len(data) >= 18 and data[17] == 1
                if reply or now - last_status >= 10.0:
                    f.flush()
                    os.fsync(f.fileno())
                    stream.send_status(flushed)
                    last_status = now
                if idle_exit is not None and now - last_data >= idle_exit:
                    break
            f.flush()
            os.fsync(f.fileno())
            stream.send_status(flushed)
    finally:
        stream.close()
    return written


def status(args: Any) -> int:
    """Runs ``arrowtail status``: checkpoint, slot position and lag, as a table or JSON."""
    report: dict[str, Any] = {}
    if args.to:
        sink = open_sink(args.to)
        report["sink"] = redact_url(args.to)
        report["sink_checkpoint"] = sink.open()
        sink.close()
    if args.checkpoint:
        from arrowtail.checkpoint import CheckpointFile

        report["checkpoint"] = CheckpointFile(args.checkpoint).load()
    if args.source:
        from arrowtail.config import SourceConfig

        src = SourceConfig(url=args.source, password_env=args.password_env)
        password = src.password()
        report["source"] = redact_url(args.source)
        if src.kind == "postgres":
            import psycopg

            from arrowtail.sources import pg_admin
            from arrowtail.sources.pgwire import format_lsn

            dsn = args.source
            if password:
                dsn = psycopg.conninfo.make_conninfo(args.source, password=password)
            with pg_admin.connect(dsn) as conn:
                slot = pg_admin.get_slot(conn, args.slot)
                if slot is None:
                    raise SourceError(f"replication slot {args.slot!r} does not exist")
                report["slot"] = args.slot
                report["slot_confirmed_flush_lsn"] = format_lsn(slot.confirmed_flush_lsn)
                report["slot_active"] = slot.active
                report.update(pg_admin.lag(conn, args.slot))
        else:
            raise ConfigError("status supports postgresql:// sources; for MySQL use --checkpoint")
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        width = max((len(k) for k in report), default=0)
        for key, value in report.items():
            print(f"{key:<{width}}  {value}")
    if not report:
        print("nothing to report: pass --source, --to or --checkpoint", file=sys.stderr)
        return 2
    return 0
