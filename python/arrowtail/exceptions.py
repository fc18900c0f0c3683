"""The exception hierarchy of arrowtail, defined once.

Every error of the Rust core maps to exactly one of these classes (see
``rust/arrowtail-python/src/error.rs``); the Python layers raise them too. Messages say what
happened, where (LSN, binlog file and offset, table, column) and what to do about it.
"""

from __future__ import annotations


class ArrowtailError(Exception):
    """Base class of every error arrowtail raises on purpose."""

    #: Exit code of the ``arrowtail`` command for this kind of error.
    exit_code: int = 2


class DecodeError(ArrowtailError):
    """Malformed, truncated or inconsistent input bytes; the message names the position."""


class UnsupportedTypeError(ArrowtailError):
    """A source type that has no Arrow mapping and no text form."""


class SchemaChangeError(ArrowtailError):
    """Rows that disagree with the schema known for their table."""


#: The columns a change batch adds to the user columns (docs/design.md, "The change batch"), in
#: batch order; ``_lsn`` and ``_last_commit_lsn`` (PostgreSQL) and ``_gtid`` (MySQL/MariaDB) only
#: for the Kafka sink's Debezium encoders.
#: No user column may have one of these names (:class:`ReservedColumnError`).
RESERVED_COLUMNS = (
    "_op",
    "_pos",
    "_seq",
    "_xid",
    "_commit_ts",
    "_before",
    "_unchanged",
    "_lsn",
    "_last_commit_lsn",
    "_gtid",
)


class ReservedColumnError(ArrowtailError):
    """A source column named like one of the columns every change batch adds
    (:data:`RESERVED_COLUMNS`), which no reader of the batch could tell apart from it. Raised
    before any row of the table is handed on; leave the column out of the capture or rename it
    (docs/design.md, "Reserved column names")."""

    @classmethod
    def found(cls, columns: list[tuple[str, str]], at: str = "") -> ReservedColumnError:
        """The error for ``(schema.table, column)`` pairs, found at ``at`` (a position, or
        nothing before the capture starts)."""
        listed = ", ".join(f"{table}.{column}" for table, column in columns)
        first = columns[0][0] if columns else "schema.table"
        return cls(
            f"cannot capture column(s) {listed}: each has the name of a column arrowtail adds to "
            f"every change ({', '.join(RESERVED_COLUMNS)}); leave them out of the capture "
            f'(PostgreSQL 15 and later: a column list on the publication, e.g. --tables "{first} '
            '(...)") or rename them at the source' + (f" (found in {at})" if at else "")
        )


class SourceError(ArrowtailError):
    """The source database is unreachable, misconfigured or refuses what arrowtail needs.

    ``code`` is the server's own error code when the server reported the error: a PostgreSQL
    SQLSTATE (``"55006"``) or a MySQL/MariaDB errno as decimal text (``"1236"``); None otherwise.
    Whether retrying can help is said by the two kinds below, which each source decides in one
    place (``arrowtail.sources.postgres.errors``, ``arrowtail.sources.mysql.errors``)."""

    exit_code = 3

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        self.code = code


class SourceUnavailable(SourceError):
    """A transient failure: connection refused or lost, server shutting down, too many
    connections, a replication slot still held by another process, a lock wait. Retrying after
    a pause may succeed."""


class SourceRefused(SourceError):
    """A permanent failure: wrong password, a missing privilege, an unknown database, a purged
    binlog, a setting the source needs. Retrying cannot help; someone has to act."""


class ServerError(SourceError, DecodeError):
    """An error the server sent inside a stream the Rust core was decoding (a MySQL/MariaDB error
    packet ending a binlog dump), with the server's ``code``. It is a :class:`SourceError` (exit
    code 3) and, to callers of the decoder, a :class:`DecodeError`: the stream ended in it. The
    source turns it into :class:`SourceUnavailable` or :class:`SourceRefused`."""


class SinkError(ArrowtailError):
    """The sink could not store changes; nothing past the last stored position is acknowledged."""

    exit_code = 3


class ConfigError(ArrowtailError):
    """Invalid configuration or command-line usage."""


class InternalError(ArrowtailError):
    """A bug in arrowtail, not a problem of the input or the configuration: a panic of the Rust
    core or an Arrow array it could not assemble. The message names the call and says what went
    wrong; the decoder object it came from refuses further calls (create a new one)."""

    #: The exit code of unexpected errors.
    exit_code = 70


__all__ = [
    "RESERVED_COLUMNS",
    "ArrowtailError",
    "ConfigError",
    "DecodeError",
    "InternalError",
    "ReservedColumnError",
    "SchemaChangeError",
    "ServerError",
    "SinkError",
    "SourceError",
    "SourceRefused",
    "SourceUnavailable",
    "UnsupportedTypeError",
]
