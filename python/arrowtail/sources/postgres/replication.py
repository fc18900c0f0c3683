"""PostgreSQL streaming-replication plumbing (no protocol decoding here), over arrowtail's own
wire client (``wire="native"``, :class:`NativeReplicationStream`) or psycopg 3
(``wire="libpq"``, :class:`ReplicationStream`).

The native stream reads the socket in large raw blocks and hands them to
``PgOutputDecoder.feed_wire``, which splits and decodes them in Rust. On the libpq path,
psycopg has no replication API, but since 3.3 ``START_REPLICATION`` on a
``replication=database`` connection enters COPY BOTH mode, which the low-level ``pgconn``
reads and writes. This module opens such a stream, reads CopyData payloads with a deadline
(non-blocking reads plus ``select`` on the socket), and answers with standby status updates.
The payloads go unparsed to :class:`arrowtail.PgOutputDecoder`.

The walsender formats text values in its own session settings, so :func:`pinned_dsn` pins
them (``DateStyle=ISO``, ``IntervalStyle=postgres``, ``TimeZone=UTC``,
``extra_float_digits=3``), which the decoder's text parsing relies on.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg import pq

from arrowtail._core import format_lsn, standby_status_update
from arrowtail.exceptions import SourceError, SourceUnavailable
from arrowtail.sources.postgres import errors as pg_errors

if TYPE_CHECKING:
    from arrowtail import _core
    from arrowtail.sources.postgres.client import PgConnection

#: Session settings the decoder's text parsing assumes.
PINNED_SETTINGS = {
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "extra_float_digits": "3",
}


def backend_options(user_options: str, settings: dict[str, str]) -> str:
    """The backend's command-line options: the user's (kept first, so a pinned setting wins over
    a user's same setting), then ``-c name=value`` per setting, with spaces escaped as libpq's
    ``options`` needs."""
    parts = [user_options] if user_options else []
    for name, value in settings.items():
        escaped = value.replace("\\", "\\\\").replace(" ", "\\ ")
        parts.append(f"-c {name}={escaped}")
    return " ".join(parts)


def pinned_dsn(dsn: str, settings: dict[str, str] | None = None) -> str:
    """Adds the pinned session settings (and any extra GUCs) to libpq's ``options`` after the
    user's own (the connection string's, else ``PGOPTIONS``), and UTF-8 as the client encoding:
    the decoders read text as UTF-8, whatever ``PGCLIENTENCODING`` says."""
    given = psycopg.conninfo.conninfo_to_dict(dsn).get("options")
    user = str(given) if given is not None else os.environ.get("PGOPTIONS", "")
    options = backend_options(user, {**PINNED_SETTINGS, **(settings or {})})
    return psycopg.conninfo.make_conninfo(dsn, options=options, client_encoding="UTF8")


def next_status(stream: Stream, flush_lsn: int | None, reply: bool) -> bytes:
    """The status update a stream sends next: ``flush_lsn`` raises the stream's acknowledged
    position (never lowers it), which goes out as written, flushed and applied."""
    if flush_lsn is not None:
        stream.flushed_lsn = max(stream.flushed_lsn, flush_lsn)
    lsn = stream.flushed_lsn
    return standby_status_update(lsn, lsn, lsn, reply)


def quote_option(value: str) -> str:
    """Quotes a START_REPLICATION option value as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


class Stream(Protocol):
    """What the source needs of an open replication stream, whatever the wire."""

    flushed_lsn: int

    def pump(self, decoder: _core.PgOutputDecoder, timeout: float, max_bytes: int) -> int:
        """Feeds what arrives within ``timeout`` seconds (up to about ``max_bytes``) to
        ``decoder``; returns how many XLogData frames that was."""
        ...

    def send_status(self, flush_lsn: int | None = None, reply: bool = False) -> None: ...

    def finish(self, timeout: float = 10.0) -> None: ...

    def close(self) -> None: ...


@dataclass
class ReplicationStream:
    """An open COPY BOTH replication stream on its own psycopg connection."""

    conn: psycopg.Connection
    #: Highest LSN acknowledged as flushed, sent with every status update.
    flushed_lsn: int = 0
    _pgconn: pq.abc.PGconn = field(init=False)

    def __post_init__(self) -> None:
        self._pgconn = self.conn.pgconn

    def read(self, timeout: float) -> bytes | None:
        """The next CopyData payload, or None when nothing arrived within ``timeout`` seconds.

        Raises SourceError when the server ends the stream or the connection fails.
        """
        deadline = time.monotonic() + timeout
        while True:
            n, data = self._pgconn.get_copy_data(1)
            if n > 0:
                return bytes(data)
            if n == -1:
                raise SourceUnavailable("the server ended the replication stream")
            if n < -1:
                msg = self._pgconn.error_message.decode(errors="replace")
                raise pg_errors.libpq_error(f"replication stream failed: {msg}", self._pgconn)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._pgconn.socket], [], [], left)
            if ready:
                self._pgconn.consume_input()

    def pump(self, decoder: _core.PgOutputDecoder, timeout: float, max_bytes: int) -> int:
        """Reads CopyData payloads until ``timeout`` or ``max_bytes`` and feeds them at once."""
        deadline = time.monotonic() + timeout
        frames: list[bytes] = []
        size = 0
        committed = False
        while size < max_bytes:
            # Once a commit is in hand, wait no longer: what is already here is taken, and the
            # transaction goes on to the sink without sitting out the rest of the timeout.
            data = self.read(0.0 if committed else max(0.0, deadline - time.monotonic()))
            if data is None:
                break
            frames.append(data)
            size += len(data)
            # XLogData: 'w', three 8-byte LSN/clock fields, then the pgoutput message, whose
            # first byte is C (commit), c (stream commit) or K (commit prepared) at the end of
            # a transaction.
            committed = committed or (data[:1] == b"w" and data[25:26] in (b"C", b"c", b"K"))
        if frames:
            decoder.feed_many(frames)
        return sum(1 for f in frames if f[:1] == b"w")

    def send_status(self, flush_lsn: int | None = None, reply: bool = False) -> None:
        """Sends a standby status update acknowledging ``flush_lsn`` (never moving backwards)."""
        if self._pgconn.put_copy_data(next_status(self, flush_lsn, reply)) != 1:
            raise SourceError("could not send a standby status update")
        self._pgconn.flush()

    def finish(self, timeout: float = 10.0) -> None:
        """Ends the stream cleanly, then closes: CopyDone, and what the server still sends is
        read and dropped until its own CopyDone (protocol "Streaming Replication Protocol",
        START_REPLICATION: either side may end COPY BOTH). Closing a socket with unread data
        makes the kernel reset the connection, and the walsender may then lose the last status
        update still unread on its side; after the CopyDone exchange it has read everything
        sent before. Gives up after ``timeout`` seconds; the connection is closed either way."""
        try:
            if self._pgconn.put_copy_end() == 1:
                self._pgconn.flush()
                deadline = time.monotonic() + timeout
                # get_copy_data: > 0 a payload, 0 nothing yet, -1 the server's CopyDone, < -1 error.
                while (n := self._pgconn.get_copy_data(1)[0]) >= 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    if n == 0:
                        ready, _, _ = select.select([self._pgconn.socket], [], [], left)
                        if ready:
                            self._pgconn.consume_input()
        except (psycopg.Error, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Closes the connection (the server ends the walsender)."""
        self.conn.close()


@dataclass
class NativeReplicationStream:
    """An open COPY BOTH replication stream on arrowtail's own wire client: raw socket blocks
    go to ``PgOutputDecoder.feed_wire``."""

    conn: PgConnection
    #: Bytes read with the CopyBothResponse, decoded by the first pump.
    first: bytes = b""
    #: Highest LSN acknowledged as flushed, sent with every status update.
    flushed_lsn: int = 0

    def pump(self, decoder: _core.PgOutputDecoder, timeout: float, max_bytes: int) -> int:
        """Reads raw blocks until ``timeout`` or ``max_bytes`` and feeds each as it arrives."""
        deadline = time.monotonic() + timeout
        frames = 0
        if self.first:
            first, self.first = self.first, b""
            frames += self._check(decoder.feed_wire(first))
        size = 0
        while size < max_bytes:
            # Once a commit is in hand, wait no longer: what is already here is taken, and the
            # transaction goes on to the sink without sitting out the rest of the timeout. A
            # commit is in hand when data came and no transaction is open any more
            # (``committed_lsn`` cannot tell: it moves only at ``flush()``, after this returns).
            waited = frames == 0 or not decoder.is_idle
            n = self.conn.recv(max(0.0, deadline - time.monotonic()) if waited else 0.0)
            if n == 0:
                break
            frames += self._check(decoder.feed_wire(self.conn.buffer, n))
            size += n
        return frames

    def _check(self, summary: _core.WireSummary) -> int:
        """Raises on an error or the end of the stream; returns the XLogData frames seen."""
        if summary.messages:
            self.conn.finish_exchange(summary.messages)
            if summary.done or any(tag == "c" for tag, _ in summary.messages):
                raise SourceUnavailable("the server ended the replication stream")
        return summary.data_messages

    def send_status(self, flush_lsn: int | None = None, reply: bool = False) -> None:
        """Sends a standby status update acknowledging ``flush_lsn`` (never moving backwards)."""
        self.conn.send_copy_data(next_status(self, flush_lsn, reply))

    def finish(self, timeout: float = 10.0) -> None:
        """Ends the stream cleanly, then closes (see :meth:`ReplicationStream.finish` for why):
        CopyDone and Terminate, then everything the server still sends is read and dropped until
        it closes the connection, having read all we sent before. Gives up after ``timeout``
        seconds; the connection is closed either way."""
        try:
            self.conn.send(b"c")
            self.conn.send(b"X")
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                self.conn.recv(left)
        except SourceError:
            pass  # the server closed the connection: the clean end
        finally:
            self.close()

    def close(self) -> None:
        """Closes the connection (the server ends the walsender)."""
        self.conn.close()


def start_command(
    slot: str,
    publications: Iterable[str],
    *,
    proto_version: int = 1,
    binary: bool = False,
    messages: bool = False,
    streaming: str | None = None,
    two_phase: bool = False,
    start_lsn: int = 0,
) -> str:
    """The ``START_REPLICATION`` command for pgoutput.

    Options follow pgoutput's: ``binary`` and ``messages`` need protocol >= 1 on PostgreSQL 14+,
    ``streaming`` (``on``, or ``parallel`` with protocol 4) needs protocol >= 2, ``two_phase``
    protocol >= 3.
    """
    opts = [
        f"proto_version {quote_option(str(proto_version))}",
        f"publication_names {quote_option(','.join(publications))}",
    ]
    if binary:
        opts.append("binary 'true'")
    if messages:
        opts.append("messages 'true'")
    if streaming:
        opts.append(f"streaming {quote_option(streaming)}")
    if two_phase:
        opts.append("two_phase 'true'")
    slot_ident = '"' + slot.replace('"', '""') + '"'
    start = format_lsn(start_lsn)
    return f"START_REPLICATION SLOT {slot_ident} LOGICAL {start} ({', '.join(opts)})"


def start_native_replication(
    dsn: str,
    slot: str,
    publications: Iterable[str],
    *,
    settings: dict[str, str] | None = None,
    **options: Any,
) -> NativeReplicationStream:
    """Like :func:`start_replication`, on arrowtail's own wire client."""
    from arrowtail.sources.postgres import client as pgproto

    cmd = start_command(slot, publications, **options)
    conn = pgproto.connect(dsn, replication=True, settings=settings)
    try:
        first = conn.start_copy(cmd)
    except SourceError as exc:
        conn.close()
        raise pg_errors.error(f"START_REPLICATION failed: {exc}", exc) from None
    return NativeReplicationStream(conn, first)


def start_replication(
    dsn: str,
    slot: str,
    publications: Iterable[str],
    *,
    settings: dict[str, str] | None = None,
    **options: Any,
) -> ReplicationStream:
    """Opens a psycopg replication connection and starts logical replication from ``slot``;
    ``options`` are :func:`start_command`'s. ``settings`` adds GUCs to the walsender session
    (e.g. ``logical_decoding_work_mem``)."""
    cmd = start_command(slot, publications, **options)
    conn = psycopg.connect(pinned_dsn(dsn, settings), replication="database", autocommit=True)
    pgconn = conn.pgconn
    pgconn.send_query(cmd.encode())
    res = pgconn.get_result()
    if res is None or res.status != pq.ExecStatus.COPY_BOTH:
        msg = pgconn.error_message.decode(errors="replace")
        error = pg_errors.libpq_error(f"START_REPLICATION failed: {msg.strip()}", pgconn, res)
        conn.close()
        raise error
    return ReplicationStream(conn)
