"""A MySQL/MariaDB table rebuilt by an ``ALTER TABLE`` after the initial snapshot began: InnoDB
refuses a consistent read of it (error 1412, table definition has changed), and no later read in
that snapshot could give its rows. The run stops with an error that names the table and says
what to do, and stores no position; the next run takes the snapshot anew, and ``verify`` finds
the target equal to the source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arrowtail.exceptions import SourceError
from arrowtail.pipeline import Pipeline
from arrowtail.sinks.parquet import ParquetSink
from arrowtail.sources.mysql import snapshot as mysql_snapshot
from arrowtail.sources.mysql.source import MySqlSource
from arrowtail.verify.compare import verify
from tests.support.mysql_run import app_url

DB = "myrebuilt"
SERVER_ID = 7437


def test_a_table_rebuilt_while_the_snapshot_reads_stops_the_run_and_loses_nothing(
    mariadb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(f"CREATE TABLE {DB}.a (id INT PRIMARY KEY, v TEXT)")
        cur.execute(f"CREATE TABLE {DB}.t (id INT PRIMARY KEY, v TEXT, price DECIMAL(6,2))")
        cur.execute(f"INSERT INTO {DB}.a VALUES (1, 'a1'), (2, 'a2')")
        cur.executemany(
            f"INSERT INTO {DB}.t VALUES (%s, %s, %s)",
            [(i, f"v{i}", f"{i}.25") for i in range(1, 31)],
        )
    conn.commit()
    mariadb.grant_capture(DB)
    real = mysql_snapshot.snapshot_table

    def rebuilt_first(c: Any, schema: str, table: str, *args: Any, **kwargs: Any) -> Any:
        if table == "t":
            with mariadb.connect() as other, other.cursor() as cur:
                cur.execute(f"ALTER TABLE {DB}.t MODIFY price DECIMAL(6,1), ALGORITHM=COPY")
        return real(c, schema, table, *args, **kwargs)

    out = tmp_path / "cdc"
    url = app_url(mariadb) + DB

    def run() -> Any:
        source = MySqlSource(
            url, password=mariadb.capture_password, snapshot="initial", server_id=SERVER_ID
        )
        return Pipeline(source, ParquetSink(out), idle_exit=2).run()

    with monkeypatch.context() as patch:
        patch.setattr(mysql_snapshot, "snapshot_table", rebuilt_first)
        with pytest.raises(SourceError) as raised:
            run()
    assert str(raised.value) == (
        f"{DB}.t: an ALTER TABLE rebuilt the table after the snapshot began (error 1412, table"
        " definition has changed), so the snapshot cannot read it; no position of this"
        " snapshot is stored: run again to take it anew"
    )
    summary = run()
    assert summary.last_position is not None
    tables = [f"{DB}.a", f"{DB}.t"]
    report = verify(mariadb.url + DB, f"parquet:{out}", tables)
    assert report.equal, report.summary()
    assert [(t.table, t.source_rows) for t in report.tables] == [(f"{DB}.a", 2), (f"{DB}.t", 30)]
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {DB}")
    conn.close()
