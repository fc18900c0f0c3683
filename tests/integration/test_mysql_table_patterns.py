"""``--tables`` with shell wildcards on a MySQL/MariaDB source, against the private MariaDB: the
snapshot reads the tables a pattern matches, the stream captures them and a table created later
that matches, and leaves the rest out; a pattern matching nothing is a warning, an exact name
that does not exist still an error; ``verify`` takes the same list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.cli import assert_one_clear_line, cli, cli_popen
from tests.support.mysql_run import capture_args, capture_env, wait_for_dump
from tests.support.replay import parquet_changes, replay

DBS = ("pat_a", "pat_b")


def _rows(conn: Any, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, v FROM {table}")
        return {(i,): {"id": i, "v": v} for i, v in cur.fetchall()}


def test_table_patterns_select_the_snapshot_and_the_stream(mariadb: Any, tmp_path: Path) -> None:
    conn = mariadb.connect()
    with conn.cursor() as cur:
        for db in DBS:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db}")
        for table in ("pat_a.orders_1", "pat_a.orders_2", "pat_a.audit", "pat_b.orders_9"):
            cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(20))")
            cur.execute(f"INSERT INTO {table} VALUES (1, 'before'), (2, 'before')")
    for db in DBS:
        mariadb.grant_capture(db)
    env = capture_env(mariadb)
    out = tmp_path / "out"
    # One pattern per database, one of them for a name no table has yet.
    tables = "pat_a.orders_?,pat_b.*,pat_a.later_*"
    try:
        args = capture_args(mariadb, f"parquet:{out}", tables, "--snapshot", "initial")
        proc = cli_popen(*args, "--idle-exit", "3", env=env)
        wait_for_dump(mariadb, proc)
        with conn.cursor() as cur:
            cur.execute("UPDATE pat_a.orders_1 SET v = 'streamed' WHERE id = 1")
            cur.execute("DELETE FROM pat_a.orders_2 WHERE id = 2")
            cur.execute("INSERT INTO pat_a.audit VALUES (3, 'left out')")
            cur.execute("INSERT INTO pat_b.orders_9 VALUES (3, 'streamed')")
            # Created while streaming: the pattern picks it up from its first change.
            cur.execute("CREATE TABLE pat_a.later_1 (id INT PRIMARY KEY, v VARCHAR(20))")
            cur.execute("INSERT INTO pat_a.later_1 VALUES (7, 'new table')")
            # Not matched: orders_10 has two characters where the pattern has one.
            cur.execute("CREATE TABLE pat_a.orders_10 (id INT PRIMARY KEY, v VARCHAR(20))")
            cur.execute("INSERT INTO pat_a.orders_10 VALUES (1, 'left out')")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "--tables pattern pat_a.later_* matches no table" in err
        captured = ["pat_a.later_1", "pat_a.orders_1", "pat_a.orders_2", "pat_b.orders_9"]
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_")) == captured
        images = replay(parquet_changes(out))
        assert sorted(images) == captured
        for table in captured:
            assert images[table] == _rows(conn, table), table
        assert images["pat_a.orders_1"][(1,)]["v"] == "streamed"
        assert (2,) not in images["pat_a.orders_2"]
        assert images["pat_a.later_1"] == {(7,): {"id": 7, "v": "new table"}}
        # verify takes the same list: each pattern is the source tables it matches now.
        source = args[args.index("--source") : args.index("--password-env") + 2]
        check = cli("verify", *source, "--against", f"parquet:{out}", "--tables", tables, env=env)
        assert check.returncode == 0, check.stdout + check.stderr
        assert (
            sorted(line.split(":")[0] for line in check.stdout.splitlines() if ": equal" in line)
            == captured
        )

        # An exact name that does not exist is still refused beside a pattern.
        bad = capture_args(mariadb, f"parquet:{tmp_path / 'bad'}", "pat_b.*,pat_a.nope")
        run = cli(*bad, "--idle-exit", "1", env=env)
        assert_one_clear_line(
            run.returncode, run.stderr, mariadb.capture_password, "pat_a.nope", "does not exist"
        )
    finally:
        with conn.cursor() as cur:
            for db in DBS:
                cur.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.close()
