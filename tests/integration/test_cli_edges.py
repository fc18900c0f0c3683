"""Command-line edges against real servers: ``--tables`` naming a table that is not there is
refused before a publication or slot exists (PostgreSQL) or anything streams (MariaDB); a capture
that cannot write its output leaves no slot behind; libpq ``key=value`` strings work as source,
target and in ``verify``; a successful run clears the error an earlier run left."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.mysql_run import capture_args, capture_env, create_schema
from tests.support.pg_run import PASSWORD_ENV, create_database, env_for, run_args

DB = "cli_edges"
SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, name text);
CREATE TABLE other (id int PRIMARY KEY);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;
"""


def arrowtail(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arrowtail.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert done.returncode == code, f"exit {done.returncode}: {done.stderr}"
    errors = [line for line in done.stderr.splitlines() if line.startswith("arrowtail: error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def pg_objects(postgres: Any) -> tuple[set[str], set[str]]:
    """Names of the replication slots of the cluster and of the publications of :data:`DB`."""
    with postgres.connect(dbname=DB) as conn:
        slots = {r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots")}
        pubs = {r[0] for r in conn.execute("SELECT pubname FROM pg_publication")}
    return slots, pubs


def test_postgres_tables_that_are_not_there_are_refused_before_any_slot(
    postgres: Any, tmp_path: Path
) -> None:
    create_database(postgres, DB, SCHEMA)
    with postgres.connect(dbname=DB) as conn:
        conn.execute("CREATE PUBLICATION edges_items FOR TABLE items")
    env = env_for(postgres)
    cases = [
        # An existing publication, a table that does not exist.
        ("edges_items", "public.items,public.nope", "public.nope, which does not exist"),
        # A publication arrowtail would create, a table that does not exist.
        ("edges_new", "public.nope", "public.nope, which does not exist"),
        # A table that exists, but the existing publication does not publish it.
        ("edges_items", "public.other", 'ALTER PUBLICATION "edges_items" ADD TABLE "public"'),
    ]
    for publication, tables, needle in cases:
        out = tmp_path / publication
        args = run_args(postgres, DB, out, "edges_slot", publication, "--tables", tables)
        done = arrowtail(*args, "--snapshot", "initial", "--idle-exit", "1", env=env)
        one_error_line(done, 2, needle)
        slots, pubs = pg_objects(postgres)
        assert "edges_slot" not in slots and pubs == {"edges_items"}
        assert not list(out.rglob("*.parquet"))


def test_capture_into_an_unwritable_file_leaves_no_slot(postgres: Any, tmp_path: Path) -> None:
    # The publication exists (the capture role may not create one): the slot is what a failed
    # capture must not leave behind, and what it did not create stays.
    create_database(postgres, DB, SCHEMA, publication="edges_cap")
    source = postgres.capture_dsn(DB)
    for out in ("/nonexistent/dir/x.cap", str(tmp_path)):  # a missing folder; a directory
        done = arrowtail(
            "capture",
            *("--source", source, "--password-env", PASSWORD_ENV),
            *("--slot", "edges_cap", "--publication", "edges_cap", "--out", out),
            "--idle-exit",
            "1",
            env=env_for(postgres),
        )
        one_error_line(done, 2, "cannot write the capture file")
        slots, pubs = pg_objects(postgres)
        assert "edges_cap" not in slots and pubs == {"edges_cap"}
    assert not Path("/nonexistent").exists()


def test_key_value_connection_strings_as_source_target_and_in_verify(
    postgres: Any, tmp_path: Path
) -> None:
    create_database(postgres, DB, SCHEMA, publication="edges_kv")
    target_db = "cli_edges_target"
    with postgres.connect() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {target_db} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {target_db}")
    host = f"host={postgres.host} port={postgres.port}"
    source = f"{host} dbname={DB} user={postgres.app_user}"
    target = f"{host} dbname={target_db} user={postgres.user}"
    env = env_for(postgres)
    run = ["run", "--source", source, "--password-env", PASSWORD_ENV, "--slot", "edges_kv"]
    run += ["--publication", "edges_kv", "--snapshot", "initial", "--idle-exit", "1"]
    done = arrowtail(*run, "--to", target, "--create-tables", env=env)
    assert done.returncode == 0, done.stderr
    with postgres.connect(dbname=target_db) as conn:
        assert conn.execute("SELECT count(*), sum(id) FROM items").fetchone() == (50, 1275)
    # verify reads primary keys from information_schema, which shows them to a table's owner.
    owner = f"{host} dbname={DB} user={postgres.user}"
    verify = ["verify", "--source", owner, "--tables"]
    done = arrowtail(*verify, "public.items", "--against", target, "--recheck", "0", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "equal" in done.stdout
    with postgres.connect(dbname=target_db) as conn:
        conn.execute("DELETE FROM items WHERE id = 7")
    done = arrowtail(*verify, "public.items", "--against", target, "--recheck", "0", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    status = arrowtail(
        "status",
        "--source",
        source,
        "--password-env",
        PASSWORD_ENV,
        "--slot",
        "edges_kv",
        "--json",
        env=env,
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["slot"] == "edges_kv"
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_drop_replication_slot('edges_kv')")


def test_a_successful_run_clears_the_last_error(postgres: Any, tmp_path: Path) -> None:
    create_database(postgres, DB, SCHEMA, publication="edges_err")
    out = tmp_path / "out"
    state = out / "_arrowtail"
    state.mkdir(parents=True)
    (state / "last_error.json").write_text(
        json.dumps({"time": "2026-01-01T00:00:00+00:00", "error": "the earlier run failed"})
    )
    (state / ".last_error.json.tmp-4242").write_text("{")
    # The user's own files in the output survive the run.
    users = [
        out / "mine.parquet",
        out / "reports" / "mine.parquet",
        out / "public.items" / "x.parquet",
    ]
    for path in users:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"not arrowtail's")
    env = env_for(postgres)
    status = arrowtail("status", "--to", f"parquet:{out}", "--json", env=env)
    assert "the earlier run failed" in json.loads(status.stdout)["last_error"]
    args = run_args(postgres, DB, out, "edges_err", "edges_err", "--snapshot", "initial")
    done = arrowtail(*args, "--idle-exit", "1", env=env)
    assert done.returncode == 0, done.stderr
    status = arrowtail("status", "--to", f"parquet:{out}", "--json", env=env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert "last_error" not in report, report
    assert report["sink_checkpoint"] is not None
    assert sorted(p.name for p in state.iterdir()) == ["manifest.json"]
    assert all(path.read_bytes() == b"not arrowtail's" for path in users)
    assert len(list((out / "public.items").glob("part-*.parquet"))) == 1
    with postgres.connect(dbname=DB) as conn:
        conn.execute("SELECT pg_drop_replication_slot('edges_err')")


def test_mariadb_tables_that_are_not_there_are_refused(mariadb: Any, tmp_path: Path) -> None:
    db = "cli_edges_my"
    create_schema(mariadb.connect(), db)
    out = tmp_path / "out"
    args = capture_args(mariadb, f"parquet:{out}", f"{db}.types,{db}.nope", "--idle-exit", "1")
    done = arrowtail(*args, env=capture_env(mariadb))
    one_error_line(done, 2, f"{db}.nope, which does not exist")
    assert not list(out.rglob("*.parquet"))


def test_a_capture_failing_before_it_stored_anything_drops_its_slot(
    postgres: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from arrowtail import capture
    from arrowtail.exceptions import SourceError

    create_database(postgres, DB, SCHEMA, publication="edges_undo")
    out = tmp_path / "x.cap"
    seen: list[set[str]] = []

    def stream_lost(*args: Any, **kwargs: Any) -> int:
        seen.append(pg_objects(postgres)[0])  # the slot exists while the stream runs
        raise SourceError("replication stream lost")

    monkeypatch.setattr(capture, "_record", stream_lost)
    monkeypatch.setenv(PASSWORD_ENV, postgres.app_password)
    source = postgres.capture_dsn(DB)
    try:
        capture.capture(
            source,
            slot="edges_undo",
            publication="edges_undo",
            out=str(out),
            idle_exit=1.0,
            password_env=PASSWORD_ENV,
        )
    except SourceError as exc:
        assert "replication stream lost" in str(exc)
    else:
        raise AssertionError("the capture did not fail")
    assert "edges_undo" in seen[0]
    slots, pubs = pg_objects(postgres)
    assert "edges_undo" not in slots and pubs == {"edges_undo"}
    assert not out.exists()
