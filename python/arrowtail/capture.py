"""``arrowtail capture``: records a replication slot's pgoutput messages into a capture file
(``[u64 BE LSN][u32 BE length][message]`` per message), acknowledging only what the file holds.
A capture that cannot write its output creates nothing on the server, and one that fails before
storing anything removes the slot (and publication, and file) it created."""

from __future__ import annotations

import logging
import os
import struct
import time
from typing import Any

from arrowtail.exceptions import ConfigError
from arrowtail.runner import InstallSignals

log = logging.getLogger("arrowtail.capture")


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
    from arrowtail.config import SourceConfig, check_url
    from arrowtail.sources.postgres import admin as pg_admin
    from arrowtail.sources.postgres.source import protocol_for

    src = SourceConfig(url=source, password_env=password_env)
    if src.kind != "postgres":
        raise ConfigError(
            "capture reads PostgreSQL: --source postgresql://... or a key=value string"
        )
    check_url("--source", source)
    password = src.password()
    dsn = source
    if password:
        import psycopg

        dsn = psycopg.conninfo.make_conninfo(source, password=password)
    # The output is opened before anything is made on the server, so that a capture that cannot
    # be written leaves no slot (which would hold WAL back) behind.
    existed = os.path.exists(out)
    try:
        f = open(out, "ab")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ConfigError(f"cannot write the capture file {out}: {exc.strerror or exc}") from None
    made: dict[str, bool] = {}
    #: Messages written and fsynced (acknowledged to the server) so far.
    stored = [0]
    try:
        with pg_admin.connect(dsn) as conn:
            version = pg_admin.check_server(conn)
            made["publication"] = not conn.execute(
                "SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)
            ).fetchone()
            pg_admin.ensure_publication(conn, publication, [])
            if pg_admin.get_slot(conn, slot) is None:
                repl = pg_admin.connect_replication(dsn)
                try:
                    pg_admin.create_slot(repl, slot, export_snapshot=False)
                    made["slot"] = True
                finally:
                    repl.close()
        options = protocol_for(version)
        written = _record(f, dsn, slot, publication, options, idle_exit, install_signals, stored)
    except BaseException:
        f.close()
        if stored[0] == 0:
            _undo_capture(dsn, slot if made.get("slot") else None, publication, made, out, existed)
        raise
    f.close()
    return written


def _record(
    f: Any,
    dsn: str,
    slot: str,
    publication: str,
    options: dict[str, Any],
    idle_exit: float | None,
    install_signals: InstallSignals | None,
    stored: list[int],
) -> int:
    """Streams the slot into the open capture file ``f`` until idle or stopped; returns the
    number of messages written. ``stored[0]`` counts those fsynced (and so acknowledged)."""
    from arrowtail.sources.postgres.replication import start_replication

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
                stored[0] = written
                stream.send_status(flushed)
                last_status = now
            if idle_exit is not None and now - last_data >= idle_exit:
                break
        f.flush()
        os.fsync(f.fileno())
        stored[0] = written
        stream.send_status(flushed)
    finally:
        stream.close()
    return written


def _undo_capture(
    dsn: str, slot: str | None, publication: str, made: dict[str, bool], out: str, existed: bool
) -> None:
    """After a capture failed before storing anything: drops the slot and the publication it
    created and removes the capture file it created, so that nothing of it stays behind.
    Failing to clean up is logged; the original error is what the user sees."""
    from arrowtail.sources.postgres import admin as pg_admin
    from arrowtail.sources.postgres import errors as pg_errors

    if not existed:
        try:
            if os.path.getsize(out) == 0:
                os.unlink(out)
        except OSError:
            pass
    if slot is None and not made.get("publication"):
        return
    try:
        with pg_admin.connect(dsn) as conn:
            if slot is not None:
                # The walsender of the failed stream may hold the slot for a moment longer.
                deadline = time.monotonic() + 10.0
                while True:
                    try:
                        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                        break
                    except Exception as exc:  # noqa: BLE001 - retried, then logged
                        if not pg_errors.slot_in_use(exc) or time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                log.info("dropped replication slot %s, created by this failed capture", slot)
            if made.get("publication"):
                from psycopg import sql

                conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(publication)))
    except Exception as exc:  # noqa: BLE001 - the capture's own error matters more
        log.warning("could not remove what the failed capture created: %s", exc)
