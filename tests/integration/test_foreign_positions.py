"""A stored position that is not this pipeline's own is refused, not resumed from.

Two pipelines writing into one target database under the default ``sink_name`` share one row of
``arrowtail_state``: the second used to resume from the first's position, so a PostgreSQL run
created its slot, skipped its initial snapshot and streamed only what came after (the rows that
were already in the table never reached the target), and a MySQL run stopped with an unexpected
KeyError. A slot dropped while its checkpoint stayed behind lost the changes in between the same
way. Each case is refused now with one clear line, before a slot is made; a ``sink_name`` of its
own gives the second pipeline a complete copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import mysql_run
from tests.support.cli import assert_one_clear_line, cli
from tests.support.pg_run import PASSWORD_ENV, create_database, env_for, fresh_db

SCHEMA = """
CREATE TABLE public.items (id int PRIMARY KEY, name text);
INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 50) g;
"""
MY_DB = "foreign_pos"


def _slots(postgres: Any, db: str) -> list[str]:
    with postgres.connect(dbname=db) as conn:
        rows = conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE database = %s ORDER BY 1", (db,)
        ).fetchall()
    return [r[0] for r in rows]


def _pg_run(postgres: Any, db: str, slot: str, to: str, *extra: str) -> Any:
    source = ["--source", postgres.capture_dsn(db), "--password-env", PASSWORD_ENV]
    args = ["run", *source, "--slot", slot, "--publication", "pub", "--to", to]
    return cli(*args, "--snapshot", "initial", "--idle-exit", "1", *extra, env=env_for(postgres))


def _target_rows(postgres: Any, db: str) -> list[tuple[int, str]]:
    with postgres.connect(dbname=db) as conn:
        return [tuple(r) for r in conn.execute("SELECT id, name FROM public.items ORDER BY id")]


def test_a_second_pipeline_into_the_same_target_is_refused_until_it_has_its_own_sink_name(
    postgres: Any, mariadb: Any
) -> None:
    for db in ("fp_one", "fp_two"):
        create_database(postgres, db, SCHEMA, publication="pub")
    fresh_db(postgres, "fp_target").close()
    target = postgres.dsn_for(postgres.user, None, "fp_target")

    first = _pg_run(postgres, "fp_one", "fp_one", target + "?create_tables=1")
    assert first.returncode == 0, first.stderr
    with postgres.connect(dbname="fp_target") as conn:
        conn.execute("DROP TABLE public.items")  # the second source has a table of that name too

    # Another database's pipeline, same target, default sink_name: the first's position.
    second = _pg_run(postgres, "fp_two", "fp_two", target + "?create_tables=1")
    line = assert_one_clear_line(
        second.returncode, second.stderr, postgres.app_password, "'fp_two' does not exist"
    )
    assert "sink_name=" in line
    assert _slots(postgres, "fp_two") == []  # refused before a slot was made

    # A MySQL pipeline handed that PostgreSQL position.
    conn = mariadb.connect()
    conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {MY_DB}")
    conn.cursor().execute(f"CREATE TABLE IF NOT EXISTS {MY_DB}.t (id int PRIMARY KEY)")
    mariadb.grant_capture(MY_DB)
    args = mysql_run.capture_args(mariadb, target, f"{MY_DB}.t", "--idle-exit", "1")
    mysql = cli(*args, env=mysql_run.capture_env(mariadb))
    line = assert_one_clear_line(
        mysql.returncode, mysql.stderr, mariadb.capture_password, "another pipeline"
    )
    assert "was not written by a MySQL/MariaDB source" in line and "sink_name=" in line

    # With a sink_name of its own, the second pipeline takes its snapshot like any first run.
    own = _pg_run(postgres, "fp_two", "fp_two", target + "?create_tables=1&sink_name=two")
    assert own.returncode == 0, own.stderr
    assert _target_rows(postgres, "fp_target") == [(i, f"item {i}") for i in range(1, 51)]


def test_a_checkpoint_whose_slot_was_dropped_is_refused(postgres: Any, tmp_path: Path) -> None:
    create_database(postgres, "fp_dropped", SCHEMA, publication="pub")
    checkpoint = tmp_path / "ck.json"
    out = f"parquet:{tmp_path / 'out'}"
    first = _pg_run(postgres, "fp_dropped", "fp_slot", out, "--checkpoint", str(checkpoint))
    assert first.returncode == 0, first.stderr
    stored = json.loads(checkpoint.read_text())["position"]

    with postgres.connect(dbname="fp_dropped") as conn:
        conn.execute("SELECT pg_drop_replication_slot('fp_slot')")
        conn.execute("INSERT INTO public.items VALUES (51, 'after the drop')")

    again = _pg_run(postgres, "fp_dropped", "fp_slot", out, "--checkpoint", str(checkpoint))
    line = assert_one_clear_line(
        again.returncode, again.stderr, postgres.app_password, "'fp_slot' does not exist"
    )
    assert "--snapshot initial" in line
    assert _slots(postgres, "fp_dropped") == []
    assert json.loads(checkpoint.read_text())["position"] == stored
