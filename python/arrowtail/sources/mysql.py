"""The MySQL/MariaDB source: a replica connection streaming the row binlog, decoded in Rust.

Positions are ``{"pos": (file number << 32) | end offset of the commit event, "file": name,
"offset": end offset, "gtid": MariaDB GTID state or last MySQL GTID}``. MySQL has no
acknowledgement: the checkpoint (sink manifest or ``--checkpoint`` file) is the only record of
progress, and a restart resumes the dump at ``file``/``offset``.

A purged binlog is an error naming the position that was needed and the files the server still
has; nothing is skipped silently. A lost connection or server restart is retried with backoff for
``reconnect_timeout`` seconds, resuming after the last transaction handed to the pipeline.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from arrowtail import _core
from arrowtail.exceptions import ConfigError, DecodeError, SourceError
from arrowtail.redact import redact_url, register_secret, scrub
from arrowtail.sources.base import Chunk, Position
from arrowtail.sources.mysqlwire import BinlogConnection

log = logging.getLogger("arrowtail.mysql")


def binlog_pos(file: str, offset: int) -> int:
    """``(file number << 32) | offset``; the number is the binlog file name's numeric suffix."""
    suffix = file.rsplit(".", 1)[-1]
    return ((int(suffix) if suffix.isdigit() else 0) << 32) | offset


def parse_url(url: str) -> tuple[str, int, str, str | None, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
        raise ConfigError(f"not a mysql:// URL: {redact_url(url)}")
    password = unquote(parts.password) if parts.password else None
    register_secret(password)
    return (
        parts.hostname,
        parts.port or 3306,
        unquote(parts.username or "root"),
        password,
        parts.path.lstrip("/"),
    )


class MySqlSource:
    """Streams committed row changes from a MySQL or MariaDB server.

    Example::

        source = MySqlSource("mysql://cdc@db:3306/", password=os.environ["CDC_PW"])
    """

    kind = "mysql"

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        server_id: int = 7301,
        tables: list[str] | None = None,
        snapshot: str = "never",
        heartbeat_seconds: float = 5.0,
        reconnect_timeout: float = 60.0,
        max_poll_bytes: int = 32 << 20,
    ) -> None:
        host, port, user, url_password, _db = parse_url(url)
        self.display_url = redact_url(url)
        self._conn = BinlogConnection(
            host,
            port,
            user,
            password or url_password,
            server_id=server_id,
            heartbeat_seconds=heartbeat_seconds,
        )
        self.tables = set(tables or [])
        self.snapshot_mode = snapshot
        self.reconnect_timeout = reconnect_timeout
        self.max_poll_bytes = max_poll_bytes
        self._decoder: Any = None
        self._file = ""
        self._offset = 4
        self._emitted: Position | None = None
        self._last_event_time: float | None = None
        #: Set once a poll found the dump stream quiet: the server sends everything it has at
        #: once, so silence means the backlog is read.
        self.caught_up = False
        self.reconnects = 0

    def open(self, start: Position | None) -> None:
        info = self._conn.check()
        if start is not None:
            self._file, self._offset = str(start["file"]), int(start["offset"])
            self._emitted = dict(start)
        elif self.snapshot_mode == "initial":
            raise ConfigError(
                "initial snapshots of MySQL/MariaDB are not available yet: run with "
                "--snapshot never"
            )
        else:
            self._file, self._offset = self._current_end()
        log.info(
            "streaming %s (%s) from %s:%d", self.display_url, info.version, self._file, self._offset
        )
        self._start()

    def _current_end(self) -> tuple[str, int]:
        conn = self._conn.query_connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW MASTER STATUS")
                row = cur.fetchone()
        finally:
            conn.close()
        if row is None:
            raise SourceError("the server reports no binlog (SHOW MASTER STATUS is empty)")
        return str(row[0]), int(row[1])

    def _start(self) -> None:
        self._check_retained()
        self._decoder = _core.BinlogDecoder()
        self._conn.start(file=self._file, position=self._offset)

    def _check_retained(self) -> None:
        files = [f.name for f in self._conn.binary_logs()]
        if files and self._file not in files:
            raise SourceError(
                f"binlog {self._file} (position {self._offset}) is no longer on the server, "
                f"which keeps {files[0]} .. {files[-1]}: the changes in between are lost to "
                "this checkpoint; take a new snapshot into a new sink"
            )

    def poll(self, timeout: float) -> Chunk:
        try:
            return self._poll(timeout)
        except DecodeError as exc:
            if "the server sent error" not in str(exc):
                raise
            self._conn.close()
            raise SourceError(f"the server ended the binlog dump: {scrub(str(exc))}") from None
        except SourceError as exc:
            self._reconnect(exc)
            return Chunk()

    def _poll(self, timeout: float) -> Chunk:
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while len(buf) < self.max_poll_bytes:
            data = self._conn.read(max(0.0, deadline - time.monotonic()))
            if not data:
                break
            buf += data
        if buf:
            self._decoder.feed(bytes(buf))
        else:
            self.caught_up = True
        batches = [b for b in self._decoder.flush() if self._wanted(b[0])]
        position: Position | None = None
        last = self._decoder.last_commit
        if last is not None and (last[0], last[1]) != (self._file, self._offset):
            self._file, self._offset = last
            position = {
                "pos": binlog_pos(self._file, self._offset),
                "file": self._file,
                "offset": self._offset,
                "gtid": self._decoder.mariadb_gtid_state or self._decoder.last_gtid or "",
            }
            self._emitted = position
            self._last_event_time = time.time()
        return Chunk(batches, position)

    def _wanted(self, table: str) -> bool:
        return not self.tables or table in self.tables or table.startswith("_")

    def _reconnect(self, cause: BaseException) -> None:
        log.warning("binlog connection lost: %s", scrub(str(cause)))
        self._conn.close()
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.2
        while True:
            try:
                self._start()
                self.reconnects += 1
                log.info("reconnected; resuming at %s:%d", self._file, self._offset)
                return
            except SourceError as exc:
                if "no longer on the server" in str(exc) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except OSError as exc:
                if time.monotonic() + delay > deadline:
                    raise SourceError(f"MySQL unreachable: {scrub(str(exc))}") from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def acknowledge(self, position: Position) -> None:
        # MySQL keeps no replica position; the checkpoint is the sink's or the local file.
        return None

    def close(self) -> None:
        self._conn.close()

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "source": self.display_url,
            "file": self._file,
            "offset": self._offset,
            "reconnects": self.reconnects,
        }
        try:
            end_file, end_offset = self._current_end()
            if end_file == self._file:
                info["lag_bytes"] = max(0, end_offset - self._offset)
        except SourceError:
            pass
        if self._last_event_time is not None:
            info["seconds_since_last_commit"] = time.time() - self._last_event_time
        return info
