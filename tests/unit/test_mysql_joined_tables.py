"""A restart of the MySQL/MariaDB source reads the tables that joined the capture while no run
streamed (tests/integration/test_mysql_added_default.py proves it against MariaDB). MySQL needs
the RELOAD privilege for that snapshot, and no MySQL server runs here: a refused snapshot is
played by the driver's own error, and must leave a warning naming the tables and the stream
resuming from the stored position."""

from __future__ import annotations

import logging
from typing import Any

import pymysql
import pytest

from arrowtail.sources.mysql.source import MySqlSource

REFUSED = "Access denied; you need (at least one of) the RELOAD privilege(s) for this operation"


def test_a_snapshot_the_server_refuses_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    source = MySqlSource("mysql://cdc@127.0.0.1:9/", password="hunter2")

    def refuse(is_mariadb: bool, only: list[str] | None = None) -> Any:
        raise pymysql.err.OperationalError(1227, REFUSED)

    monkeypatch.setattr(source, "_begin_snapshot", refuse)
    source._file, source._offset = "mysql-bin.000003", 1234
    stored = {"pos": (3 << 32) | 1234, "file": "mysql-bin.000003", "offset": 1234}
    with caplog.at_level(logging.INFO, logger="arrowtail"):
        source._read_joined(stored, ["shop.b", "shop.c"], is_mariadb=False)
    assert "shop.b, shop.c joined the capture while no run streamed" in caplog.text
    assert "from mysql-bin.000003:1234" in caplog.text
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and warning[0].startswith("shop.b, shop.c could not be read (")
    assert "RELOAD" in warning[0] and "arrowtail verify" in warning[0]
    assert "hunter2" not in caplog.text
    # Nothing left to hand on first: the stream resumes from the stored position.
    assert source._snapshot is None and source._reread_from is None
    assert source._read_at == {}


def test_no_tables_read_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    source = MySqlSource("mysql://cdc@127.0.0.1:9/")
    monkeypatch.setattr(source, "_begin_snapshot", lambda *a, **k: pytest.fail("snapshot"))
    source._read_joined({"pos": 4}, [], is_mariadb=True)
    assert source._reread_from is None
