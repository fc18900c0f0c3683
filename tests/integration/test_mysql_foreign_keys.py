"""Foreign key actions on a MariaDB source: InnoDB carries out ``ON DELETE CASCADE``, ``ON UPDATE
CASCADE`` and ``SET NULL`` itself and writes no row events for the rows they change, so a binlog
reader sees the parent's change and not its children's. The run says so at start, naming each
captured table such an action changes and the constraint; the output holds exactly what the
binlog does, and ``arrowtail verify`` names the children the target kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.cli import cli
from tests.support.mysql_run import PASSWORD_ENV, app_url, capture_env, stream_database
from tests.support.replay import parquet_changes

DB = "fk_my"


def test_rows_changed_by_foreign_key_actions_are_named_at_start(
    mariadb: Any, tmp_path: Path
) -> None:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(f"CREATE TABLE {DB}.p (id int PRIMARY KEY) ENGINE=InnoDB")
        cur.execute(
            f"CREATE TABLE {DB}.c (id int PRIMARY KEY, pid int, CONSTRAINT c_p FOREIGN KEY (pid)"
            f" REFERENCES {DB}.p (id) ON DELETE CASCADE ON UPDATE SET NULL) ENGINE=InnoDB"
        )
        cur.execute(
            f"CREATE TABLE {DB}.plain (id int PRIMARY KEY, pid int, FOREIGN KEY (pid)"
            f" REFERENCES {DB}.p (id)) ENGINE=InnoDB"
        )
        cur.execute(f"INSERT INTO {DB}.p VALUES (1), (2), (3)")
        cur.execute(f"INSERT INTO {DB}.c VALUES (10, 1), (11, 1), (20, 2)")
    out = tmp_path / "out"
    proc = stream_database(mariadb, DB, out, 7438)
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {DB}.p WHERE id = 1")  # deletes c 10 and 11 too
        cur.execute(f"UPDATE {DB}.p SET id = 4 WHERE id = 2")  # c 20's pid becomes NULL
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    warned = [line for line in err.splitlines() if "foreign key actions" in line]
    assert len(warned) == 1, err
    assert f"{DB}.c (c_p -> {DB}.p: ON DELETE CASCADE, ON UPDATE SET NULL)" in warned[0]
    assert "plain" not in warned[0]

    # The output holds what the binlog holds: p's delete and key change, nothing of c's.
    streamed = sorted(
        (table.split(".")[-1], row["_op"], row["id"])
        for table, _, batch in parquet_changes(out)
        for row in batch.to_pylist()
        if row["_op"] != "r"
    )
    assert streamed == [("p", "d", 1), ("p", "u", 4)], streamed

    verify = cli(
        "verify", "--source", app_url(mariadb), "--password-env", PASSWORD_ENV,
        "--against", f"parquet:{out}", "--tables", f"{DB}.p,{DB}.c",
        env=capture_env(mariadb),
    )  # fmt: skip
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert f"{DB}.p: equal" in verify.stdout, verify.stdout
    assert f"{DB}.c:" in verify.stdout and "extra 2: 10, 11" in verify.stdout, verify.stdout
    conn.close()
