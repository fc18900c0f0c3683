"""MysqlFacts looks up each table's columns over one kept connection: a snapshot of many tables
looks up one table per poll, and a new connection (with PyMySQL's TLS context) cost more than
the query. A connection the server closed is replaced once; a second failure is raised."""

from __future__ import annotations

import pyarrow as pa
import pymysql
import pytest

from arrowtail.sources.mysql.facts import MysqlFacts


class _Cursor:
    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, args: tuple[str, str]) -> None:
        if self._conn.broken:
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
        self._conn.queries.append(args)

    def fetchall(self) -> list[tuple[str, str, str, str]]:
        return [("id", "NO", "int", "int(11)"), ("v", "YES", "varchar", "varchar(5)")]


class _Conn:
    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.closed = False
        self.queries: list[tuple[str, str]] = []

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    def close(self) -> None:
        self.closed = True


def _batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"id": [1], "v": ["a"]})


def test_lookups_share_one_connection_and_replace_a_broken_one() -> None:
    made: list[_Conn] = []

    def connect() -> _Conn:
        made.append(_Conn())
        return made[-1]

    facts = MysqlFacts(connect)
    for i in range(5):
        [(_, _, batch)] = facts.annotate([(f"db.t{i}", 1, _batch())])
        assert batch.schema.metadata[b"arrowtail.not_null"] == b"id"
    assert len(made) == 1 and len(made[0].queries) == 5

    made[0].broken = True  # the server closed it (wait_timeout, a restart)
    facts.annotate([("db.t9", 1, _batch())])
    assert len(made) == 2 and made[0].closed and made[1].queries == [("db", "t9")]
    facts.close()
    assert made[1].closed


def test_a_second_failure_is_raised() -> None:
    facts = MysqlFacts(lambda: _Conn(broken=True))
    with pytest.raises(pymysql.err.OperationalError):
        facts.annotate([("db.t", 1, _batch())])
