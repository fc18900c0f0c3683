"""Type stubs of the Rust extension module ``arrowtail._core``."""

import os

import pyarrow

__version__: str

def _raise_core_error(kind: str, message: str) -> None: ...

class BinlogDecoder:
    """Decoder of MySQL/MariaDB row-based binlogs into change batches."""

    def __init__(self, *, semi_sync: bool = False, verify_checksums: bool = True) -> None: ...
    def feed(self, data: bytes) -> None:
        """Feeds replication-stream bytes (packets after COM_BINLOG_DUMP)."""
    def feed_file(self, path: str | os.PathLike[str]) -> None:
        """Decodes a binlog file; positions use its base name."""
    def feed_file_bytes(self, data: bytes, file_name: str) -> None:
        """Decodes the bytes of a whole binlog file named ``file_name``."""
    def flush(self) -> list[tuple[str, int, pyarrow.RecordBatch]]:
        """Change batches of committed rows: ``(table, schema_version, batch)``."""
    def set_table_schema(
        self, database: str, table: str, names: list[str], primary_key: list[str]
    ) -> None:
        """Column names and primary key for tables whose TABLE_MAP has no names."""
    def take_ack(self) -> tuple[str, int] | None:
        """``(file, position)`` a semi-sync ACK is due for (then cleared)."""
    @property
    def last_commit(self) -> tuple[str, int] | None: ...
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
