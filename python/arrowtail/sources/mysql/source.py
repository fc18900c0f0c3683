"""The MySQL/MariaDB source: a replica connection streaming the row binlog, decoded in Rust.

Positions are ``{"pos": (file number << 32) | end offset of the commit event, "file": name,
"offset": end offset, "gtid": MariaDB GTID state or last MySQL GTID}``. MySQL has no
acknowledgement: the checkpoint (sink manifest or ``--checkpoint`` file) is the only record of
progress, and a restart resumes the dump at ``file``/``offset``.

A purged binlog is an error naming the position that was needed and the files the server still
has; nothing is skipped silently. A lost connection or server restart is retried with backoff for
``reconnect_timeout`` seconds, resuming after the last transaction handed to the pipeline.

A transaction whose binlog bytes read so far pass ``memory_budget`` goes to disk while it is open
(:mod:`arrowtail.spill`); at its commit its rows are handed on from there, ``drain_bytes`` of
them per poll, and the position comes with the last of them.

A prepared XA transaction's rows wait in the decoder until its ``XA COMMIT`` (handed on there,
in commit order) or ``XA ROLLBACK`` (dropped); meanwhile every position carries, under ``xa``, a
position from before its prepare, where a restart dumps from (:mod:`arrowtail.sources.mysql.xa`).

A ``TRUNCATE TABLE`` reaches the sink as its ``_ddl`` row and as a ``t`` row of the table
(:mod:`arrowtail.sources.mysql.truncate`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from arrowtail import _core
from arrowtail.exceptions import (
    RESERVED_COLUMNS,
    ConfigError,
    ReservedColumnError,
    SchemaChangeError,
    ServerError,
    SourceError,
    SourceRefused,
    SourceUnavailable,
)
from arrowtail.redact import redact_url, register_secret, scrub
from arrowtail.sources.base import (
    Chunk,
    PositionJSON,
    ReservedNames,
    TableBatch,
    retry_with_backoff,
    too_many_to_name,
)
from arrowtail.sources.layouts import Layouts, retyped
from arrowtail.sources.mysql import errors as mysql_errors
from arrowtail.sources.mysql.added import AddedValues
from arrowtail.sources.mysql.busy import OpenWriters
from arrowtail.sources.mysql.ddl import (
    changed_table,
    foreign_key_actions,
    quote_name,
    renamed_tables,
)
from arrowtail.sources.mysql.facts import MysqlFacts
from arrowtail.sources.mysql.history import SchemaHistory
from arrowtail.sources.mysql.position import BinlogPosition, binlog_pos
from arrowtail.sources.mysql.replication import (
    GRANTS_HINT,
    LACKS_PRIVILEGE,
    BinlogConnection,
    Tls,
    binlog_status,
    privileges,
    tls_options,
)
from arrowtail.sources.mysql.truncate import DDL_TABLE, Truncates
from arrowtail.sources.mysql.xa import ParkedXa, interleave
from arrowtail.spill import Spill
from arrowtail.tables import Selection

log = logging.getLogger("arrowtail.mysql")


@dataclass(frozen=True)
class MySqlUrl:
    """The parts of ``mysql://USER[:PASSWORD]@HOST[:PORT]/[DATABASE][?ssl=...&ssl_ca=...]``."""

    host: str
    port: int
    user: str
    password: str | None
    database: str
    tls: Tls | None

    def connection(self, password: str | None = None, **kw: Any) -> BinlogConnection:
        """A replica connection with these settings (``password`` overrides the URL's)."""
        return BinlogConnection(
            self.host, self.port, self.user, password or self.password, tls=self.tls, **kw
        )


def parse_url(url: str) -> MySqlUrl:
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
        raise ConfigError(f"not a mysql:// URL: {redact_url(url)}")
    password = unquote(parts.password) if parts.password else None
    register_secret(password)
    return MySqlUrl(
        parts.hostname,
        parts.port or 3306,
        unquote(parts.username or "root"),
        password,
        parts.path.lstrip("/"),
        tls_options(dict(parse_qsl(parts.query))),
    )


class MySqlSource:
    """Streams committed row changes from a MySQL or MariaDB server.

    Example::

        source = MySqlSource("mysql://cdc@db:3306/", password=os.environ["CDC_PW"])
    """

    kind = "mysql"
    position_type = BinlogPosition

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
        resume_by: str = "position",
        memory_budget: int = 256 << 20,
        spill_dir: str | None = None,
        drain_bytes: int = 16 << 20,
        row_gtid: bool = False,
    ) -> None:
        parsed = parse_url(url)
        #: Changes carry their transaction's GTID (``_gtid``), for a sink that names it.
        self.row_gtid = row_gtid
        database = parsed.database
        self.display_url = redact_url(url)
        self._conn = parsed.connection(
            password, server_id=server_id, heartbeat_seconds=heartbeat_seconds
        )
        self.tables = set(tables or [])
        #: The tables ``tables`` selects: names and shell-wildcard patterns (``shop.*``); a
        #: table created later that a pattern matches is captured from its first change.
        self._selection = Selection(self.tables)
        #: Tables warned of for inserts logged without some columns (_warn_partial_inserts).
        self._partial_warned: set[str] = set()
        #: System-versioned tables left out (see _check_versioned).
        self._versioned: set[str] = set()
        self.database = database
        self.snapshot_mode = snapshot
        self.reconnect_timeout = reconnect_timeout
        self.max_poll_bytes = max_poll_bytes
        self.resume_by = resume_by
        self.memory_budget = memory_budget
        self.drain_bytes = drain_bytes
        self._spill = Spill(spill_dir)
        #: Prepared XA transactions waiting for their outcome.
        self._xa = ParkedXa()
        #: The position the current dump started from: a parked XA transaction's floor when
        #: it is before the checkpoint, and then the floor of those it finds prepared again.
        self._started: PositionJSON = {}
        #: Binlog bytes read since the open transaction began (or was last spilled).
        self._open_bytes = 0
        #: A spilled transaction being handed on: its rows, then the batches and the position
        #: of the poll that brought its commit.
        self._draining: (
            tuple[Iterator[TableBatch], list[TableBatch], PositionJSON | None] | None
        ) = None
        self._gtid = ""
        self._decoder: Any = None
        self._file = ""
        self._offset = 4
        self._emitted: PositionJSON | None = None
        self._last_event_time: float | None = None
        #: Commit time (Unix seconds) of the last transaction with captured rows, for status.
        self._commit_ts: float | None = None
        #: Set once a poll found the dump stream quiet: the server sends everything it has at
        #: once, so silence means the backlog is read.
        self.caught_up = False
        self.reconnects = 0
        self._snapshot: Iterator[TableBatch] | None = None
        self._snapshot_pos = 0
        #: Set when TABLE_MAPs carry no column names (binlog_row_metadata = MINIMAL): the schema
        #: history then follows the stream's DDL.
        self._minimal = False
        self._history = SchemaHistory(
            self._conn.query_connection, "" if self.tables else database, self._wanted
        )
        self._snapshot_position: BinlogPosition | None = None
        #: The captured tables whose rows the target holds (found at open, or met in the
        #: stream since), which positions name as ``tables``; ``_known_list``: it sorted.
        self._known: set[str] = set()
        self._known_list: list[str] | None = None
        #: Whether positions name them (not past POSITION_TABLES_MAX tables).
        self._name_known = True
        #: Set while tables that joined the capture between runs are read (see _read_joined):
        #: the stored position the stream resumes from once they are handed on.
        self._reread_from: PositionJSON | None = None
        #: Per table read so, the ``_pos`` its rows were read at.
        self._read_at: dict[str, int] = {}
        #: Decoded events other than heartbeats, to tell data arriving from a quiet stream.
        self._data_events = 0
        #: Text values the decoder read with U+FFFD in place of bytes invalid in their
        #: character set: counted by the current decoder, told in a warning now and then.
        self._replaced_seen = 0
        self._replaced_untold = 0
        self._replaced_told_at = -math.inf
        self._quiet_since = time.monotonic()
        self._writers = OpenWriters(self._conn.query_connection)
        self._facts = MysqlFacts(self._conn.query_connection)
        #: The run's schema versions, shared by every binlog decoder (one per connection) and
        #: the snapshot, so each batch is numbered for the whole run where it is made.
        self.schema_versions = _core.SchemaVersions()
        #: Turns each TRUNCATE statement into a ``t`` row of its table.
        self._truncates = Truncates(self._conn.query_connection, self.schema_versions, self._wanted)
        self._added = AddedValues(self._wanted)
        self._names = ReservedNames()
        #: Each table's layouts in the stream, for a column type changed in place (see
        #: _warn_retyped).
        self._layouts = Layouts()

    def open(self, start: PositionJSON | None) -> None:
        # Spill files of a run that died before its transaction's commit.
        self._spill.remove_leftovers()
        with self._privileges():
            self._open(start)

    def _privileges(self) -> Any:
        return privileges(self._conn.user, self._conn.host, self._conn.port)

    def _open(self, start: PositionJSON | None) -> None:
        info = self._conn.check()
        self._check_versioned()
        self._check_cascades()
        self._check_tables()
        self._check_reserved()
        self._facts.server_id = info.server_id
        self._facts.flavor = "mariadb" if info.is_mariadb else "mysql"
        if info.binlog_row_metadata not in ("FULL", ""):
            log.info(
                "binlog_row_metadata is %s: column names and keys come from information_schema",
                info.binlog_row_metadata,
            )
            self._minimal = True
        self._known = set(self._list_captured())
        self._name_known = not too_many_to_name(len(self._known))
        if start is not None:
            resume = BinlogPosition.from_json(start)
            if resume.file is None or resume.offset is None:
                raise ConfigError(f"checkpoint position {start} names no binlog file and offset")
            self._file, self._offset = resume.file, resume.offset
            self._gtid = resume.gtid or ""
            self._emitted = dict(start)
            if self._minimal:
                self._history.restore(start)
            if self.resume_by == "gtid" and not (info.is_mariadb and self._gtid):
                raise ConfigError(
                    "--resume-by gtid needs a MariaDB server and a checkpoint with a GTID "
                    f"(this checkpoint has gtid={self._gtid!r}); use --resume-by position"
                )
            if resume.tables is not None:
                self._read_joined(start, sorted(self._known - set(resume.tables)), info.is_mariadb)
        elif self.snapshot_mode == "initial":
            self._begin_snapshot(info.is_mariadb)
        else:
            self._file, self._offset = self._current_end()
        log.info(
            "streaming %s (%s) from %s:%d", self.display_url, info.version, self._file, self._offset
        )
        if self._snapshot is None:
            self._start()

    def _list_captured(self) -> list[str]:
        """The tables the run captures now, as ``db.table``."""
        from arrowtail.sources.mysql import snapshot as mysql_snapshot

        conn = self._conn.query_connection()
        try:
            found = mysql_snapshot.list_tables(conn, self.database, self._selection)
        finally:
            conn.close()
        return [name for d, t in found if self._wanted(name := f"{d}.{t}")]

    def _begin_snapshot(self, is_mariadb: bool, only: list[str] | None = None) -> None:
        """Starts the initial snapshot; with ``only``, a snapshot of those tables alone, whose
        rows are handed on before the stream resumes from the stored position (_read_joined)."""
        from arrowtail.sources.mysql import snapshot as mysql_snapshot

        conn = self._conn.query_connection()
        try:
            conn.autocommit(False)
            point = mysql_snapshot.consistent_snapshot(conn, is_mariadb)
            tables = mysql_snapshot.list_tables(conn, self.database, self._selection)
            if only is None:
                self._check_visible(tables)
            else:
                tables = [(d, t) for d, t in tables if f"{d}.{t}" in only]
            self._facts.prefetch([f"{d}.{t}" for d, t in tables])
        except BaseException:
            conn.close()
            raise
        at = BinlogPosition.at(point.file, point.offset, gtid=point.gtid, snapshot=True)
        if only is None:
            self._file, self._offset = point.file, point.offset
            self._snapshot_position = at
        log.info("snapshot of %d tables at %s:%d", len(tables), point.file, point.offset)
        self._snapshot_pos = at.pos
        self._snapshot = mysql_snapshot.snapshot(conn, at.pos, tables)

    def _read_joined(self, start: PositionJSON, tables: list[str], is_mariadb: bool) -> None:
        """Reads ``tables`` whole before the stream resumes from ``start``: captured now, they
        are not among the tables the stored position names, so they joined the capture while
        no run streamed (added to ``tables``, created, renamed into it), and the binlog from
        there carries at most their changes since, not the rows already in them. Their rows
        come as of now, then the stream from ``start`` replays changes up to now over them,
        which leaves each row as it is now. Nothing is stored until all are handed on."""
        if not tables:
            return
        import pymysql

        log.info(
            "%s joined the capture while no run streamed (added to the tables, created or renamed"
            " into it) with rows no binlog event from %s:%d carries: reading %s whole first",
            ", ".join(tables),
            self._file,
            self._offset,
            "it" if len(tables) == 1 else "them",
        )
        try:
            self._begin_snapshot(is_mariadb, only=tables)
        except (SourceError, OSError, pymysql.err.MySQLError) as exc:
            log.warning(
                "%s could not be read (%s): compare %s with arrowtail verify, and take a new"
                " snapshot into a new sink if they differ",
                ", ".join(tables),
                scrub(str(exc).strip()),
                "it" if len(tables) == 1 else "them",
            )
            return
        self._reread_from = start
        self._read_at = dict.fromkeys(tables, self._snapshot_pos)

    def _check_tables(self) -> None:
        """Refuses ``tables`` naming a table that does not exist (or that the user cannot see):
        such a run would capture nothing of it. A pattern that matches no table yet is only
        logged: tables created later that it matches are captured."""
        if not self.tables:
            return
        from arrowtail.sources.mysql import snapshot as mysql_snapshot

        conn = self._conn.query_connection()
        try:
            found = mysql_snapshot.list_tables(conn, self.database, self._selection)
        finally:
            conn.close()
        missing, idle = self._selection.unmatched(f"{d}.{t}" for d, t in found)
        for pattern in idle:
            log.warning(
                "--tables pattern %s matches no table the user %r can see now; tables created"
                " later that it matches are captured from their first change",
                pattern,
                self._conn.user,
            )
        if missing:
            raise ConfigError(
                f"--tables names {', '.join(missing)}, which does not exist (names are "
                f"database.table) or the user {self._conn.user!r} {LACKS_PRIVILEGE} (SELECT) on "
                f"it; {GRANTS_HINT}"
            )

    def _catalog_rows(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """The rows of one catalog query, on a query connection of its own."""
        conn = self._conn.query_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def _check_versioned(self) -> None:
        """Leaves out MariaDB system-versioned tables (``WITH SYSTEM VERSIONING``), naming them,
        and refuses one named in ``tables``: their binlog rows carry the hidden ``row_start`` and
        ``row_end`` columns and every update or delete writes a history row, while their key
        (which ``row_end`` joins) and a snapshot of them need handling arrowtail does not have.
        Before, such a table was skipped by the snapshot but streamed, keyed wrongly."""
        rows = self._catalog_rows(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES"
            " WHERE TABLE_TYPE = 'SYSTEM VERSIONED' ORDER BY TABLE_SCHEMA, TABLE_NAME"
        )
        versioned = [f"{d}.{t}" for d, t in rows if self._wanted(f"{d}.{t}")]
        named = [t for t in versioned if t in self.tables]
        if named:
            raise ConfigError(
                f"{', '.join(named)} {'is a' if len(named) == 1 else 'are'} system-versioned"
                f" table{'' if len(named) == 1 else 's'}, which arrowtail does not capture (the"
                " binlog rows carry history rows and hidden row_start and row_end columns);"
                " leave it out of --tables"
            )
        if versioned:
            log.warning(
                "left out: %s, system-versioned (arrowtail does not capture such tables: their"
                " binlog rows carry history rows and hidden row_start and row_end columns)",
                ", ".join(versioned),
            )
        self._versioned = set(versioned)

    def _check_cascades(self) -> None:
        """Warns of the captured tables whose rows a foreign key's action changes (``ON DELETE`` or
        ``ON UPDATE`` with ``CASCADE``, ``SET NULL`` or ``SET DEFAULT``): InnoDB carries out
        those actions itself, and the binlog holds no row events for the rows they change, so the
        parent's change is captured and its children's are not (docs/mysql.md). The actions are
        read from ``SHOW CREATE TABLE``: MariaDB shows ``REFERENTIAL_CONSTRAINTS`` rows only to a
        user with more than ``SELECT`` on the table."""
        import pymysql

        named = []
        conn = self._conn.query_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME FROM"
                    " information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL"
                    " ORDER BY TABLE_SCHEMA, TABLE_NAME"
                )
                rows = list(cur.fetchall())
            for db, table in rows:
                if not self._wanted(f"{db}.{table}"):
                    continue
                try:
                    with conn.cursor() as cur:
                        cur.execute(f"SHOW CREATE TABLE {quote_name(db)}.{quote_name(table)}")
                        ddl = cur.fetchone()[1]
                except (pymysql.err.ProgrammingError, pymysql.err.OperationalError):
                    continue  # gone since, or not readable: nothing to warn of
                for name, target, rules in foreign_key_actions(ddl):
                    parent = target if "." in target else f"{db}.{target}"
                    named.append(f"{db}.{table} ({name} -> {parent}: {', '.join(rules)})")
        finally:
            conn.close()
        if named:
            log.warning(
                "the binlog holds no rows that foreign key actions change, so these tables' rows"
                " changed that way are not captured (the parent's change is): %s; a target"
                " keeps those rows as they were (docs/mysql.md, foreign key cascades)",
                "; ".join(named),
            )

    def _check_reserved(self) -> None:
        """Refuses a captured table with a column named like a metadata column before the
        stream starts (:class:`ReservedColumnError`); :meth:`_captured` catches one that
        DDL adds later."""
        rows = self._catalog_rows(
            "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME "
            "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON "
            "t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND "
            "t.TABLE_TYPE = 'BASE TABLE' WHERE c.COLUMN_NAME IN %s "
            "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
            (RESERVED_COLUMNS,),
        )
        # The server compares names without case; Arrow's names keep it.
        found = [
            (f"{d}.{t}", str(c))
            for d, t, c in rows
            if str(c) in RESERVED_COLUMNS and self._wanted(f"{d}.{t}")
        ]
        if found:
            raise ReservedColumnError.found(found)

    def _captured(self, batches: list[TableBatch]) -> list[TableBatch]:
        """``batches`` of the tables the run captures, refused when a user column has a
        metadata column's name (a table the run does not capture may: the decoder makes
        batches of every table)."""
        batches = [b for b in batches if self._wanted(b[0])]
        met = {b[0] for b in batches if "." in b[0] and b[0] not in self._known}
        if met:
            # Created (or renamed into the capture) while streaming: its rows come as events.
            self._known |= met
            self._known_list = None
        # The last commit handed on before the batches: their changes come after it.
        at = f"binlog {self._file} after offset {self._offset}"
        batches = self._names.check(batches, at)
        self._warn_retyped(batches)
        self._warn_renamed(batches)
        self._warn_partial_inserts(batches)
        return batches

    def _warn_statements(self) -> None:
        """Warns of data changes the binlog holds as statements (a session writing with
        ``binlog_format`` STATEMENT or MIXED, which the server allows per session): they carry
        no rows, so the decoder skips them and their changes are missing from the stream. Named
        by table and binlog position, never by the statement's text (which may hold values)."""
        found: dict[str, list[str]] = {}
        for database, statement, file, offset in self._decoder.take_skipped_statements():
            key = changed_table(statement, database)
            name = f"{key[0]}.{key[1]}" if key is not None else None
            if name is not None and not self._wanted(name):
                continue
            found.setdefault(name or "a table the statement names in another way", []).append(
                f"{file}:{offset}"
            )
        for name, places in found.items():
            log.warning(
                "%s: %d change(s) logged as statements (a session with binlog_format STATEMENT"
                " or MIXED), which carry no rows and are missing from the stream, at binlog %s;"
                " every session writing captured tables needs binlog_format=ROW: compare the"
                " table with arrowtail verify, and take a new snapshot of it if they differ",
                name,
                len(places),
                ", ".join(places[:3]) + (", ..." if len(places) > 3 else ""),
            )

    def _warn_renamed(self, batches: list[TableBatch]) -> None:
        """Warns of a table renamed into the capture (``RENAME TABLE``, ``ALTER TABLE ...
        RENAME``): the rows it held then are in no row event under its new name, so a target
        of that name lacks them until each row next changes. arrowtail has no incremental
        snapshot of a MySQL/MariaDB table to read them."""
        for table, _, batch in batches:
            if table != DDL_TABLE or not batch.num_rows:
                continue
            for row in batch.select(["database", "statement", "_pos"]).to_pylist():
                for old, new in renamed_tables(row["statement"] or "", row["database"] or ""):
                    name = f"{new[0]}.{new[1]}"
                    if row["_pos"] < self._read_at.get(name, 0):
                        continue  # read whole at open, after this rename (_read_joined)
                    if self._wanted(name):
                        log.warning(
                            "%s: renamed from %s.%s, with the rows it held then in no row event"
                            " under its new name, so a target of that name lacks them until"
                            " each row next changes; compare the table with arrowtail verify,"
                            " and take a new snapshot of it if they differ",
                            name,
                            old[0],
                            old[1],
                        )

    def _warn_partial_inserts(self, batches: list[TableBatch]) -> None:
        """Warns, once a table, of inserts logged without some of their columns: a session with
        ``binlog_row_image`` MINIMAL (or NOBLOB, for its BLOB and TEXT columns), which the server
        allows per session, logs only the columns the INSERT named, so the others' values (their
        defaults) are in no event. Such a column is marked unchanged, which a replay or a target
        fills with NULL or its own default. (A partial update or delete loses nothing: the key
        names the row and the columns not logged kept their values.)"""
        import pyarrow.compute as pc

        for table, _, batch in batches:
            if table in self._partial_warned or "_unchanged" not in batch.schema.names:
                continue
            if batch.column("_unchanged").null_count == batch.num_rows:
                continue  # full images throughout: nothing to look at
            partial = pc.and_(
                pc.equal(batch.column("_op"), "c"),
                pc.greater(pc.list_value_length(batch.column("_unchanged")), 0),
            )
            if not pc.any(partial).as_py():
                continue
            self._partial_warned.add(table)
            log.warning(
                "%s: inserts logged without some of their columns (a session with"
                " binlog_row_image MINIMAL or NOBLOB) after binlog %s offset %d: those columns'"
                " values (their defaults) are in no event, and the output marks them unchanged;"
                " every session writing captured tables needs binlog_row_image=FULL: compare the"
                " table with arrowtail verify, and take a new snapshot of it if they differ",
                table,
                self._file,
                self._offset,
            )

    def _warn_retyped(self, batches: list[TableBatch]) -> None:
        """Warns of a column whose type changed other than by widening (``MODIFY``, ``CHANGE``):
        the ``ALTER TABLE`` converted the rows already there (a smaller scale rounds, a
        narrower integer clips) with no row event for them, so a target keeps their old values
        until each row next changes. arrowtail has no incremental snapshot of a MySQL/MariaDB
        table to read them again."""
        for table, _, batch in batches:
            last = self._layouts.changed(table, batch.schema)
            changed = retyped(last, batch.schema) if last is not None else []
            if changed:
                log.warning(
                    "%s: column(s) %s of another type: MySQL/MariaDB converted the rows already"
                    " there without a row event for each, so a target keeps their old values"
                    " until each row next changes; compare the table with arrowtail verify, and"
                    " take a new snapshot of it if they differ",
                    table,
                    ", ".join(changed),
                )

    def _check_visible(self, tables: list[tuple[str, str]]) -> None:
        """Tables the user cannot see are missing from ``information_schema``: say so rather
        than snapshot nothing (or that the database's tables are all system-versioned, left out
        by :meth:`_check_versioned`)."""
        missing, _idle = self._selection.unmatched(f"{d}.{t}" for d, t in tables)
        left = sorted(t for t in self._versioned if t.split(".", 1)[0] == self.database)
        if not missing and not tables and left:
            raise ConfigError(
                f"no table of {self.database} can be captured: {', '.join(left)}"
                f" {'is' if len(left) == 1 else 'are'} system-versioned, which arrowtail does not"
                " capture (the binlog rows carry history rows and hidden row_start and row_end"
                " columns)"
            )
        if missing or (self.database and not tables and not self._selection.patterns):
            what = ", ".join(missing) if missing else f"any table of {self.database}"
            raise SourceRefused(
                f"the user {self._conn.user!r} cannot see {what}: it does not exist or the user "
                f"{LACKS_PRIVILEGE} (SELECT) on it; {GRANTS_HINT}"
            )

    def _poll_snapshot(self) -> Chunk:
        assert self._snapshot is not None
        with self._privileges():
            batch = next(self._snapshot, None)
        if batch is not None:
            self._facts.basename = _basename(self._file)
            table, _version, rows = batch
            version, rows = self.schema_versions.assign(table, rows)
            self._truncates.seen([(table, version, rows)])
            return Chunk(self._facts.annotate([(table, version, rows)]))
        self._snapshot = None
        self._facts.end_prefetch()
        if self._reread_from is not None:
            # Tables read before resuming: the stored position, now naming them, covers them.
            stored, self._reread_from = self._reread_from, None
            with self._privileges():
                self._start()
            return Chunk([], stored)
        # Snapshot complete: its position covers every row read; stream from there on.
        point, self._snapshot_position = self._snapshot_position, None
        self._gtid = (point.gtid if point is not None else None) or ""
        with self._privileges():
            self._start()
        if point is not None and self._minimal:
            point = replace(point, schemas=self._history.as_position())
        position = point.to_json() if point is not None else None
        self._emitted = position
        return Chunk([], position)

    def _current_end(self) -> tuple[str, int]:
        conn = self._conn.query_connection()
        try:
            with conn.cursor() as cur:
                row = binlog_status(cur)
        finally:
            conn.close()
        if row is None:
            raise SourceError("the server reports no binlog (SHOW MASTER STATUS is empty)")
        return str(row[0]), int(row[1])

    def _start(self) -> None:
        # Prepared XA transactions of the last emitted position are read again from before
        # their prepares; what the position covers is dropped on the way.
        floor = (self._emitted or {}).get("xa")
        file, offset, gtid = self._file, self._offset, self._gtid
        if floor is not None:
            file, offset, gtid = str(floor["file"]), int(floor["offset"]), floor.get("gtid") or ""
        by_gtid = self.resume_by == "gtid" and bool(gtid)
        if not by_gtid:
            self._check_retained(file, offset)
        self._decoder = _core.BinlogDecoder(versions=self.schema_versions, row_gtid=self.row_gtid)
        self._xa.discard()
        self._data_events = 0
        self._replaced_seen = 0
        if floor is not None:
            self._decoder.set_skip_through(binlog_pos(self._file, self._offset))
            if self._minimal:
                self._history.restore(floor)
            log.info(
                "XA transactions were prepared and not yet ended at %s:%d: reading from %s:%d, "
                "before the earliest of their prepares",
                self._file,
                self._offset,
                file,
                offset,
            )
        if self._minimal:
            self._history.load(self._decoder)
        self._started = (
            floor
            or BinlogPosition.at(
                file,
                offset,
                gtid=gtid or None,
                schemas=self._history.as_position() if self._minimal else None,
            ).to_json()
        )
        if by_gtid:
            log.info("resuming by GTID state %s", gtid)
            self._conn.start(mariadb_gtid=gtid)
        else:
            self._conn.start(file=file, position=offset)

    def _tell_replaced(self, count: int) -> None:
        """Warns of text values that held bytes invalid in their character set (each written with
        U+FFFD in their place), at most once a minute."""
        if count > self._replaced_seen:
            self._replaced_untold += count - self._replaced_seen
            self._replaced_seen = count
        now = time.monotonic()
        if self._replaced_untold and now - self._replaced_told_at >= 60.0:
            log.warning(
                "%d text values held bytes that are invalid in their column's character set; "
                "they were written with U+FFFD in place of those bytes",
                self._replaced_untold,
            )
            self._replaced_untold = 0
            self._replaced_told_at = now

    def _decode(self, data: bytes) -> list[TableBatch]:
        """Feeds stream bytes and returns the committed batches. Without column names in the
        TABLE_MAPs, the decoder stops after each DDL statement, so the schema history follows it
        before the events after it are decoded."""
        if not self._minimal:
            if data:
                self._decoder.feed(data)
            return list(self._decoder.flush())
        out: list[TableBatch] = []
        while True:
            consumed, query = self._decoder.feed_until_ddl(data)
            if query is None:
                break
            out += self._decoder.flush()
            database, statement = query[0], query[1]
            self._history.follow(self._decoder, [(database, statement)])
            data = data[consumed:]
        return out + list(self._decoder.flush())

    def _check_retained(self, file: str, offset: int) -> None:
        files = [f.name for f in self._conn.binary_logs()]
        if files and file not in files:
            raise SourceRefused(
                f"binlog {file} (position {offset}) is no longer on the server, "
                f"which keeps {files[0]} .. {files[-1]}: the changes in between are lost to "
                "this checkpoint; take a new snapshot into a new sink"
            )

    def poll(self, timeout: float) -> Chunk:
        chunk = self._poll_snapshot() if self._snapshot is not None else self._poll_stream(timeout)
        if chunk.position is not None and self._name_known:
            chunk.position = {**chunk.position, "tables": self._tables_known()}
        return chunk

    def _tables_known(self) -> list[str]:
        if self._known_list is None:
            self._known_list = sorted(self._known)
        return self._known_list

    def _poll_stream(self, timeout: float) -> Chunk:
        try:
            return self._poll(timeout)
        except ServerError as exc:
            # An error packet ends the dump; a transient one (the server shutting down) is
            # retried like a lost connection.
            if mysql_errors.kind_of(exc) is SourceUnavailable:
                self._reconnect(exc)
                return Chunk()
            self._conn.close()
            raise mysql_errors.error(f"the server ended the binlog dump: {exc}", exc) from None
        except SourceError as exc:
            self._reconnect(exc)
            return Chunk()
        except SchemaChangeError as exc:
            if not self._minimal:
                raise
            raise SchemaChangeError(
                f"{exc}. The columns known for it come from the schema history (MINIMAL row "
                "metadata): a DDL that did not reach the binlog (sql_log_bin = 0) leaves it "
                "behind. Set binlog_row_metadata = FULL, or take a new snapshot into a new sink"
            ) from None

    def _poll(self, timeout: float) -> Chunk:
        if self._draining is not None:
            return self._drain()
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while len(buf) < self.max_poll_bytes:
            # Once bytes are here, take only what else is already waiting: the commits among
            # them go on to the sink now rather than after the rest of the timeout (a
            # transaction cut short is kept by the decoder until the poll of its commit).
            wait = max(0.0, deadline - time.monotonic()) if not buf else 0.0
            data = self._conn.read(wait)
            if not data:
                break
            buf += data
        if not buf:
            self.caught_up = True
        batches = self._captured(self._decode(bytes(buf)))
        self._warn_statements()
        batches = self._added.apply(self._truncates.apply(batches))
        outcome = self._decoder.take_outcome()
        if outcome is False:
            self._spill.discard()
        drains = self._follow_xa()
        if outcome:
            # Taken from the spill before the next transaction may go there.
            pos, commit_ts_us, xid = outcome
            drains.append((pos, self._facts_of(self._spill.drain(pos, commit_ts_us, xid))))
        self._facts.basename = _basename(self._file)
        batches = self._facts.annotate(batches)
        stats = self._decoder.stats
        self._tell_replaced(stats["replaced_text"])
        data_events = stats["events"] - stats["heartbeats"]
        arrived, self._data_events = data_events > self._data_events, data_events
        position: PositionJSON | None = None
        # Read after _decode's flush: the last commit then covers exactly the batches above, also
        # when the poll ended inside a transaction (whose rows come with the poll of its commit).
        last = self._decoder.last_commit
        if last is not None and (last[0], last[1]) != (self._file, self._offset):
            self._file, self._offset = last
            self._commit_ts = _last_commit_ts(batches) or self._commit_ts
            commit = BinlogPosition.at(
                self._file,
                self._offset,
                gtid=self._decoder.mariadb_gtid_state or self._decoder.last_gtid or "",
                schemas=self._history.as_position() if self._minimal else None,
                commit_ts=self._commit_ts,
                xa=self._xa.floor(),
            )
            position = commit.to_json()
            self._gtid = commit.gtid or ""
            self._emitted = position
            self._last_event_time = time.time()
        now = time.monotonic()
        if arrived:
            self._quiet_since = now
        # Busy: part of a transaction arrived, or the server holds open write transactions that
        # reach the binlog only at their commit (after a quiet second, checked now and then).
        busy = position is None and (
            arrived or (now - self._quiet_since >= 1.0 and self._writers.active())
        )
        if drains:
            rows, rest = interleave(drains, batches)
            self._spill_open(len(buf))
            self._draining = (rows, rest, position)
            return self._drain()
        self._spill_open(len(buf))
        return Chunk(batches, position, busy=busy)

    def _follow_xa(self) -> list[tuple[int, Iterator[TableBatch]]]:
        """Applies the decoder's XA events of this poll (see :class:`ParkedXa`); returns the
        spilled XA transactions that committed, with their commit positions."""
        unmatched = self._decoder.take_xa_unmatched()
        if unmatched is not None:
            log.warning(
                "XA transaction %s committed, but it was prepared before the binlog position "
                "this stream started from: its rows are not in the stream. Compare its tables "
                "with `arrowtail verify`, or snapshot them again",
                unmatched,
            )
        events = self._decoder.take_xa_events()
        if not events:
            return []
        here = self._emitted or self._started

        def open_spill() -> Spill:
            spill, self._spill = self._spill, Spill(self._spill.spill_dir)
            return spill

        return self._xa.follow(
            events,
            here,
            self._started,
            open_spill,
            lambda ident: self._captured(self._decoder.take_parked_rows(ident)),
            self._facts_of,
        )

    def _spill_open(self, read: int) -> None:
        """Moves the open transaction's rows to disk once its bytes pass the memory budget (and
        from then on at every poll until its commit)."""
        if not self._decoder.in_transaction:
            self._open_bytes = 0
            return
        self._open_bytes += read
        if self._spill.active or self._open_bytes >= self.memory_budget:
            rows = self._decoder.take_open_rows()
            self._spill.add(self._captured(rows))
            self._open_bytes = 0

    def _facts_of(self, rows: Iterator[TableBatch]) -> Iterator[TableBatch]:
        for row in rows:
            self._truncates.seen([row])
            yield from self._facts.annotate(self._added.mark([row]))

    def _drain(self) -> Chunk:
        """The next ``drain_bytes`` of a spilled transaction; after its last rows, the batches and
        the position of the poll that brought its commit."""
        assert self._draining is not None
        rows, tail, position = self._draining
        out: list[TableBatch] = []
        size = 0
        for row in rows:
            out.append(row)
            size += row[2].nbytes
            if size >= self.drain_bytes:
                return Chunk(out, None, busy=True)
        self._draining = None
        return Chunk(out + tail, position)

    def _wanted(self, table: str) -> bool:
        if table.startswith("_"):
            return True
        if table in self._versioned:
            return False
        if self._selection:
            return self._selection(table)
        return not self.database or table.split(".", 1)[0] == self.database

    def _reconnect(self, cause: BaseException) -> None:
        log.warning("binlog connection lost: %s", scrub(str(cause)))
        self._conn.close()
        # The open transaction comes again from its start, and prepared XA transactions from
        # their prepares.
        self._spill.discard()
        self._xa.discard()
        self._open_bytes = 0

        def attempt() -> None:
            with self._privileges():
                self._start()

        retry_with_backoff(
            attempt,
            what="MySQL/MariaDB",
            timeout=self.reconnect_timeout,
            retry_on=(SourceError, OSError),
            # A purged binlog stays purged, a missing privilege missing: say so now rather than
            # after the time-out.
            give_up=mysql_errors.is_refused,
        )
        self.reconnects += 1
        log.info("reconnected; resuming at %s:%d", self._file, self._offset)

    def acknowledge(self, position: PositionJSON) -> None:
        # MySQL keeps no replica position; the checkpoint is the sink's or the local file.
        return None

    def close(self) -> None:
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            close = getattr(snapshot, "close", None)
            if close is not None:
                close()
        self._conn.close()
        self._writers.close()
        self._facts.close()
        self._draining = None
        self._spill.discard()
        self._xa.discard()

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "source": self.display_url,
            "file": self._file,
            "offset": self._offset,
            "reconnects": self.reconnects,
        }
        import pymysql

        from arrowtail.sources.mysql.status import binlog_lag

        try:
            files = self._conn.binary_logs()
        except (SourceError, OSError, pymysql.err.MySQLError):
            files = []  # lag figures are best effort; the stream reports real failures
        at = {"file": self._file, "offset": self._offset, "commit_ts": self._commit_ts}
        lag = binlog_lag(files, at, time.time())
        info.update((k, v) for k, v in lag.items() if k.startswith("lag_") and v is not None)
        if self._last_event_time is not None:
            info["seconds_since_last_commit"] = time.time() - self._last_event_time
        return info


def _basename(binlog_file: str) -> str:
    """``cdc-bin`` of ``cdc-bin.000003``."""
    return binlog_file.rsplit(".", 1)[0] if "." in binlog_file else binlog_file


def _last_commit_ts(batches: list[TableBatch]) -> float | None:
    """The latest ``_commit_ts`` of the batches, in Unix seconds (each batch ends with its
    latest commit)."""
    latest: float | None = None
    for _, _, batch in batches:
        if batch.num_rows and "_commit_ts" in batch.schema.names:
            value = batch.column("_commit_ts")[batch.num_rows - 1].value
            if value is not None:
                seconds = value / 1e6
                latest = seconds if latest is None else max(latest, seconds)
    return latest
