"""Type stubs of the Rust extension module ``arrowtail._core``."""

import os
from collections.abc import Sequence
from typing import final

import pyarrow
import pyarrow as pa
from typing_extensions import Self

__version__: str
__all__ = [
    "AvroSerializer",
    "BinlogDecoder",
    "CopyDecoder",
    "DebeziumSerializer",
    "PgOutputDecoder",
    "SchemaVersions",
    "TextRowsBuilder",
    "WireSummary",
    "__version__",
    "_panic_for_test",
    "_raise_core_error",
    "format_lsn",
    "mask_batch",
    "murmur2",
    "parse_lsn",
    "partitions",
    "standby_status_update",
]

def _raise_core_error(kind: str, message: str) -> None: ...
def _panic_for_test(message: str) -> None:
    """Panics inside the guard of every entry point (tests: it raises ``InternalError``)."""

def format_lsn(lsn: int) -> str:
    """An LSN as PostgreSQL prints it (``16/B374D848``)."""

def parse_lsn(text: str) -> int:
    """Parses ``16/B374D848`` into an integer; malformed text raises ``DecodeError``."""

def standby_status_update(
    write_lsn: int, flush_lsn: int, apply_lsn: int, reply: bool = False, clock: int | None = None
) -> bytes:
    """The ``r`` message: written/flushed/applied LSNs, the client clock (µs since 2000-01-01;
    now when not given), reply-requested flag."""

def mask_batch(
    batch: pa.RecordBatch,
    *,
    drop: list[str] = ...,
    redact: list[str] = ...,
    hash: list[str] = ...,
    key: bytes = ...,
) -> pa.RecordBatch: ...

@final
class SchemaVersions:
    """The run-wide numbering of schema versions: each distinct column layout (names, Arrow
    types, extension types) of a table gets the next number, from 1. Decoders given one
    (``versions=``) number their batches with it, so decoders sharing it agree."""

    def __new__(cls) -> Self: ...
    def assign(self, table: str, batch: pa.RecordBatch) -> tuple[int, pa.RecordBatch]:
        """The version of ``batch``'s layout for ``table`` and the batch with that version in
        its ``arrowtail.schema_version`` metadata."""

@final
class PgOutputDecoder:
    """Decodes a PostgreSQL ``pgoutput`` stream into Arrow change batches.

    Feed CopyData payloads of the replication stream (``w`` XLogData, ``k`` keepalive), bare
    messages with their LSN, or capture files; ``flush()`` returns the batches of committed rows.
    Errors raise ``arrowtail.DecodeError`` (or another ``ArrowtailError``) naming the LSN.
    ``column_byte_limit``: bytes (or list elements) of one text, binary or list column at which a
    batch is cut into the next one of the same table (default and maximum: just under 1 GiB).
    ``memory_budget``: bytes of messages of an open transaction past which ``flush()`` hands its
    rows on before its commit (default 256 MiB); ``committed_lsn`` still moves only at commits.
    ``row_lsn``: every batch also carries ``_lsn`` (the WAL position of each change's message) and
    ``_last_commit_lsn`` (the end of the transaction committed before it; 0 before the first).
    """

    def __new__(
        cls,
        *,
        column_byte_limit: int | None = None,
        versions: SchemaVersions | None = None,
        memory_budget: int | None = None,
        row_lsn: bool = False,
    ) -> Self: ...
    def feed(self, data: bytes, lsn: int | None = None) -> None:
        """One CopyData payload when ``lsn`` is None, else one bare message sent at ``lsn``."""
    def feed_many(self, frames: list[bytes]) -> None:
        """Many CopyData payloads in order (GIL released)."""
    def feed_wire(self, data: bytes | bytearray, length: int | None = None) -> WireSummary:
        """Raw bytes of a replication connection after ``START_REPLICATION`` (the first
        ``length`` of ``data``): CopyData frames are decoded, a partial message waits for the
        next call, other messages are returned (GIL released)."""
    def feed_capture(self, data: bytes) -> None:
        """A capture file: records of ``[u64 BE LSN][u32 BE length][message]`` (GIL released)."""
    def flush(self) -> list[tuple[str, int, pa.RecordBatch]]:
        """``(table, schema_version, batch)`` for every finished batch of committed rows."""
    def use_schema(self, table: str, before: pa.Schema, after: pa.Schema | None) -> None:
        """From now on ``flush`` hands ``table``'s batches whose schema is exactly ``before`` on
        with ``after`` (the same columns, other metadata; ``ValueError`` otherwise), which
        crosses to Python for less than a schema per batch. ``None`` forgets the table's pair."""
    def expect_relations(self, relids: dict[str, int]) -> None:
        """The relation id of each table (``schema.name``) as the catalog has it now: a Relation
        message of one of them under another id reports it as replaced (:meth:`take_replaced`).
        A replacement by that id waiting for its transaction's commit is no news then."""
    def take_replaced(self) -> list[str]:
        """Tables (``schema.name``) announced under another relation id than the one their name
        had, since the last call: dropped and created again, or another table renamed to the
        name. One announced in a transaction streamed in progress or prepared counts once that
        transaction commits, and not at all if it aborts."""
    def alias_types(self, aliases: dict[int, int]) -> None:
        """Columns of each type OID in ``aliases`` decode as the built-in type it maps to: an
        array of an enum as ``text[]`` (1009, the one target accepted; ``ValueError``
        otherwise). Relations already seen keep their columns until they are sent again."""
    def set_last_commit_lsn(self, end_lsn: int) -> None:
        """The end LSN of the transaction committed before the stream (a resumed run's
        checkpoint): ``_last_commit_lsn`` until the decoder sees a commit."""
    def reset_in_flight(self) -> None:
        """Forgets open/streamed/prepared transactions and a partial wire message (after a
        reconnect the server resends)."""
    def take_reply_requested(self) -> bool:
        """Returns and clears the flag set by a keepalive that asked for a reply."""
    @property
    def committed_lsn(self) -> int:
        """Highest commit LSN whose rows were all returned by ``flush()``."""
    @property
    def committed_end_lsn(self) -> int:
        """End LSN of the commit at ``committed_lsn`` (0 before any)."""
    @property
    def confirmable_lsn(self) -> int:
        """End LSN to confirm as flushed once the flushed batches are durable."""
    @property
    def last_wal_end(self) -> int:
        """Server WAL end from the last XLogData or keepalive."""
    @property
    def reply_requested(self) -> bool: ...
    @property
    def is_idle(self) -> bool:
        """True when no transaction is open or held."""
    @property
    def handed_early(self) -> bool:
        """Whether rows of the open transaction were handed on before its commit."""
    @property
    def held_rows(self) -> int:
        """Rows of streamed or prepared transactions waiting for their outcome."""
    @property
    def held_bytes(self) -> int:
        """Bytes of messages of streamed or prepared transactions since their rows were last
        taken out."""
    def take_held_rows(self) -> list[tuple[int, int, str, int, pa.RecordBatch]]:
        """``(xid, subxid, table, schema_version, batch)``: the rows of streamed and prepared
        transactions taken out unstamped, each batch written by one subtransaction."""
    def take_spill_events(self) -> list[tuple[int, int | None]]:
        """``(xid, subxid)`` for a subtransaction's abort, ``(xid, None)`` for a transaction
        whose rows taken out are void, oldest first."""
    def take_spilled_commit(self) -> tuple[int, int, int, int] | None:
        """``(xid, commit_lsn, commit_ts_us, last_commit_lsn)`` of a transaction whose rows were
        taken out, once ``flush`` returned every row committed before it (``last_commit_lsn``:
        the end LSN of the transaction committed before it, 0 if none known)."""
    @property
    def stats(self) -> dict[str, int]:
        """``special_numerics``, ``aborted_rows``, ``messages``."""
    def _panic_for_test(self, message: str) -> None:
        """Panics inside a call (tests: ``InternalError``, then the decoder refuses calls)."""

@final
class CopyDecoder:
    """Decodes ``COPY (...) TO STDOUT (FORMAT binary)`` output into ``_op = r`` change batches."""

    def __new__(
        cls,
        table: str,
        columns: list[tuple[str, int, int]],
        primary_key: list[str],
        *,
        position: int,
        snapshot_ts_us: int,
        schema_version: int = 1,
        first_seq: int = 0,
        column_byte_limit: int | None = None,
        versions: SchemaVersions | None = None,
    ) -> Self: ...
    def feed(self, data: bytes) -> None: ...
    def feed_wire(self, data: bytes | bytearray, length: int | None = None) -> WireSummary:
        """Raw bytes of the connection after the COPY query (the first ``length`` of ``data``):
        CopyData is decoded, other messages are returned (GIL released)."""
    def read_wire(self, fd: int, limit: int) -> tuple[WireSummary, int]:
        """Reads the COPY exchange from the blocking, non-TLS socket ``fd`` and decodes it (GIL
        released) until a non-data message, ``limit`` bytes or a signal."""
    def finish(self) -> None: ...
    def restart(self, first_seq: int = 0) -> None: ...
    def flush(self) -> list[tuple[str, int, pa.RecordBatch]]: ...
    @property
    def rows(self) -> int: ...
    @property
    def next_seq(self) -> int: ...
    @property
    def special_numerics(self) -> int: ...

@final
class TextRowsBuilder:
    """Builds ``_op = r`` change batches from the rows of a MySQL/MariaDB ``SELECT`` read without
    conversion (each value the text protocol's bytes, or None), with the binlog decoder's Arrow
    types and values. ``columns``: ``(name, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION,
    NUMERIC_SCALE, CHARACTER_SET_NAME)`` from ``information_schema.COLUMNS``."""

    def __new__(
        cls,
        table: str,
        columns: list[tuple[str, str, str, int | None, int | None, str | None]],
        primary_key: list[str],
        *,
        position: int,
        snapshot_ts_us: int,
        schema_version: int = 1,
        first_seq: int = 0,
        column_byte_limit: int | None = None,
    ) -> Self: ...
    def append_rows(self, rows: Sequence[Sequence[bytes | None]]) -> None:
        """Appends rows, one value per column (GIL released)."""
    def flush(self) -> list[tuple[str, int, pa.RecordBatch]]: ...
    @property
    def schema(self) -> pa.Schema: ...
    @property
    def rows(self) -> int: ...
    @property
    def next_seq(self) -> int: ...
    @property
    def stats(self) -> dict[str, int]:
        """``invalid_temporal``, ``replaced_text``."""

@final
class WireSummary:
    """What one ``feed_wire`` call saw besides the decoded data."""

    @property
    def data_messages(self) -> int:
        """CopyData payloads with data (XLogData frames, COPY data)."""
    @property
    def keepalives(self) -> int:
        """Keepalive frames of a replication stream."""
    @property
    def keepalive_wal_end(self) -> int:
        """The highest server WAL end the keepalives reported (0 without keepalives)."""
    @property
    def reply_requested(self) -> bool:
        """Whether a keepalive asked for a reply at once."""
    @property
    def messages(self) -> list[tuple[str, bytes]]:
        """Every other backend message in order: ``(type, body)``."""
    @property
    def done(self) -> bool:
        """ReadyForQuery arrived: the exchange is over."""
    @property
    def rest(self) -> bytes:
        """With ``done``, the bytes that followed ReadyForQuery."""

def murmur2(key: bytes) -> int:
    """Kafka's murmur2 hash of ``key`` (signed 32-bit, as the Java client returns it)."""

def partitions(keys: list[bytes] | pa.Array, n: int) -> pa.Int32Array:
    """``(murmur2(key) & 0x7fffffff) % n`` per key (Kafka's Java rule); null keys give 0."""

@final
class DebeziumSerializer:
    """The Debezium JSON serializer with its options checked once, for a sink that serializes
    batch after batch (see the sinks docs). The envelopes' processing time is taken at each call
    unless ``ts_ms`` fixes it. A pyarrow batch whose schema (metadata included) equals the last
    batch's crosses without its schema; any other Arrow batch crosses through the PyCapsule
    interface."""

    def __new__(
        cls,
        *,
        topic_prefix: str = "arrowtail",
        database: str = "",
        decimals: str = "string",
        unavailable: str = "placeholder",
        tombstones: bool = True,
        schemas: bool = False,
        binlog_basename: str = "mysql-bin",
        server_id: int = 0,
        ts_ms: int | None = None,
    ) -> Self: ...
    def serialize(
        self,
        batch: pa.RecordBatch,
        *,
        partitions: int | None = None,
        transactions: tuple[int, int] | None = None,
    ) -> tuple[pa.BinaryArray, pa.BinaryArray, pa.UInt32Array, pa.Int32Array | None]:
        """``(keys, values, rows, partitions)``: Debezium JSON keys (null: no key) and values
        (null: tombstone), the batch row of each message, and the partitions when ``partitions``
        (the topic's partition count) is given, else None. ``transactions=(pos, events)``:
        streamed events carry Debezium's ``transaction`` block, the table's counts going on from
        that carry; :meth:`take_transactions` then gives the
        batch's transactions."""
    def messages(
        self,
        batch: pa.RecordBatch,
        *,
        partitions: int,
        transactions: tuple[int, int] | None = None,
    ) -> tuple[list[bytes | None], list[bytes | None], list[int], int]:
        """``(keys, values, partitions, largest)``: the same messages as lists (None: no key, or
        a tombstone), the partition of each, and the largest message's key + value bytes."""
    def take_transactions(self) -> list[tuple[int, int, int, int, int, int, str | None]]:
        """``[(pos, xid, commit_ts_us, events, first_lsn, last_commit, id), ...]``: the
        transactions of the last call given ``transactions``, in order, with the count of the
        table's events in each (the carry's included when the batch went on with the carried
        transaction), of the first of them in the batch its WAL position and
        ``_last_commit_lsn`` (0: unknown), and a MySQL/MariaDB transaction's id (its GTID, or
        ``file=..,pos=..``; None for PostgreSQL). Taken once."""
    def keys(self, batch: pa.RecordBatch) -> pa.BinaryArray:
        """The Debezium key of every row, one per row: the key of the row's last message (a
        key-changing update's new key; null without a key, or for a truncate). No value is
        serialized."""

@final
class AvroSerializer:
    """The Avro serializer with its options checked once (those of ``DebeziumSerializer``,
    decimals exact by default; ``schemas`` is ignored), for a sink that serializes batch after
    batch; batches cross as ``DebeziumSerializer``'s do, and the schemas of the last batch's
    layout are kept."""

    def __new__(
        cls,
        *,
        topic_prefix: str = "arrowtail",
        database: str = "",
        decimals: str = "precise",
        unavailable: str = "placeholder",
        tombstones: bool = True,
        schemas: bool = False,
        binlog_basename: str = "mysql-bin",
        server_id: int = 0,
        ts_ms: int | None = None,
    ) -> Self: ...
    def schemas(self, batch: pa.RecordBatch) -> tuple[str | None, str, str, str]:
        """The Avro ``(key_schema, value_schema, key_name, value_name)`` of the batch's table (key
        schema None without a key; names: the full record names of the key and envelope)."""
    def serialize(
        self,
        batch: pa.RecordBatch,
        *,
        value_schema_id: int,
        key_schema_id: int | None = None,
        partitions: int | None = None,
        transactions: tuple[int, int] | None = None,
    ) -> tuple[pa.BinaryArray, pa.BinaryArray, pa.UInt32Array, pa.Int32Array | None]:
        """Avro ``(keys, values, rows, partitions)`` in the Confluent wire format (magic byte 0,
        big-endian schema id, Avro datum), with the registry's ids of the ``schemas``;
        ``transactions`` as ``DebeziumSerializer.serialize`` takes it."""
    def messages(
        self,
        batch: pa.RecordBatch,
        *,
        value_schema_id: int,
        partitions: int,
        key_schema_id: int | None = None,
        transactions: tuple[int, int] | None = None,
    ) -> tuple[list[bytes | None], list[bytes | None], list[int], int]:
        """``(keys, values, partitions, largest)`` as ``DebeziumSerializer.messages`` returns
        them."""
    def take_transactions(self) -> list[tuple[int, int, int, int, int, int, str | None]]:
        """As ``DebeziumSerializer.take_transactions``."""

@final
class BinlogDecoder:
    """Decoder of MySQL/MariaDB row-based binlogs into change batches."""

    def __new__(
        cls,
        *,
        semi_sync: bool = False,
        verify_checksums: bool = True,
        column_byte_limit: int | None = None,
        versions: SchemaVersions | None = None,
        row_gtid: bool = False,
    ) -> Self: ...
    def feed(self, data: bytes) -> None:
        """Feeds replication-stream bytes (packets after COM_BINLOG_DUMP)."""
    def feed_until_ddl(self, data: bytes) -> tuple[int, tuple[str, str, str, int, int] | None]:
        """Like ``feed``, but stops right after a DDL statement (not BEGIN/COMMIT): returns the
        bytes of ``data`` consumed and ``(database, statement, file, offset, end)`` of the
        statement, or None when all of ``data`` was taken."""
    def feed_file(self, path: str | os.PathLike[str]) -> None:
        """Decodes a binlog file; positions use its base name."""
    def feed_file_bytes(self, data: bytes, file_name: str) -> None:
        """Decodes the bytes of a whole binlog file named ``file_name``."""
    def flush(self) -> list[tuple[str, int, pyarrow.RecordBatch]]:
        """Change batches of every row committed so far and not yet flushed, none of the open
        transaction's: ``(table, schema_version, batch)``."""
    def take_open_rows(self) -> list[tuple[str, int, pyarrow.RecordBatch]]:
        """The open transaction's rows so far, taken out unstamped (``_pos`` and ``_commit_ts``
        0) for keeping elsewhere until :meth:`take_outcome` tells; call right after ``flush``."""
    def take_outcome(self) -> tuple[int, int, int | None] | bool | None:
        """How the transaction whose rows were taken out ended, once: ``(pos, commit_ts_us, xid
        or None)`` when it committed, False when it was discarded, None while open or none."""
    def take_xa_events(
        self,
    ) -> list[
        tuple[str, int, bool, bool, str] | tuple[str, int, bool, int, int] | tuple[str, int, bool]
    ]:
        """What happened to XA transactions since the last call, in binlog order:
        ``("prepared", id, taken, replayed, xid)``, ``("committed", id, taken, pos,
        commit_ts_us)`` or ``("dropped", id, taken)``. A prepared transaction's rows wait in
        the decoder (or, when ``taken``, with the caller) until it is committed or dropped."""
    def take_parked_rows(self, id: int) -> list[tuple[str, int, pyarrow.RecordBatch]]:
        """The rows of the prepared XA transaction ``id`` still in the decoder, unstamped; its
        outcome is then reported with ``taken`` set."""
    def take_xa_unmatched(self) -> str | None:
        """The XID of the last ``XA COMMIT`` of a transaction the decoder never saw prepared,
        once."""
    def take_skipped_statements(self) -> list[tuple[str, str, str, int]]:
        """Data changes logged as statements (``INSERT``, ``UPDATE``, ``DELETE``, ``REPLACE``
        of a session in ``STATEMENT`` or ``MIXED`` format) since the last call, as
        ``(database, statement, file, offset)``: they carry no rows. At most 64 per call;
        ``stats["skipped_statements"]`` counts them all."""
    def set_skip_through(self, pos: int) -> None:
        """Re-reading from before a checkpoint at ``pos``: transactions that commit at or
        before it are dropped, XA prepares among them parked."""
    @property
    def in_transaction(self) -> bool:
        """True while a transaction is open."""
    def set_table_schema(
        self, database: str, table: str, names: list[str], primary_key: list[str]
    ) -> None:
        """Column names and primary key for tables whose TABLE_MAP has no names."""
    def take_ack(self) -> tuple[str, int] | None:
        """``(file, position)`` a semi-sync ACK is due for (then cleared)."""
    def set_column_details(
        self, database: str, table: str, details: list[tuple[bool, int | None, list[str] | None]]
    ) -> None:
        """Per column ``(unsigned, collation id, ENUM/SET labels)`` for TABLE_MAPs without
        optional metadata (MINIMAL); fills only what the TABLE_MAP leaves out."""
    @property
    def last_commit(self) -> tuple[str, int] | None:
        """``(file, end offset)`` of the last committed transaction; read after :meth:`flush`, it
        covers exactly the rows flushed so far (the position a source stores)."""
    @property
    def last_gtid(self) -> str | None: ...
    @property
    def mariadb_gtid_state(self) -> str: ...
    @property
    def current_file(self) -> str: ...
    @property
    def stream_ended(self) -> bool: ...
    @property
    def events(self) -> int: ...
    @property
    def skipped_unknown(self) -> int: ...
    @property
    def stats(self) -> dict[str, int]: ...
