"""A table that joins a PostgreSQL publication (``ALTER PUBLICATION ... ADD TABLE``, a partition
attached with its rows) sends its changes from then on; the rows already in it are in no change.
They used to be missing from every target while the run exited 0, whether the table joined while
a run streamed or between two runs. The source now reads such a table by an incremental
snapshot, and ``verify`` finds both targets (a PostgreSQL and a MariaDB database) equal; the
tables published from the start are not read again."""

from __future__ import annotations

from typing import Any

from tests.support.cli import cli, cli_popen
from tests.support.pg_run import wait_slot_active
from tests.support.two_targets import TwoTargets, fresh_source, stream_into_both

SCHEMA = "joined"
TEMPLATE = """
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.a (id int PRIMARY KEY, v text);
CREATE TABLE {SCHEMA}.b (id int PRIMARY KEY, v text);
CREATE TABLE {SCHEMA}.m (id int, region text, v int, PRIMARY KEY (id, region))
  PARTITION BY LIST (region);
CREATE TABLE {SCHEMA}.m_eu PARTITION OF {SCHEMA}.m FOR VALUES IN ('eu');
CREATE TABLE {SCHEMA}.m_us (id int, region text, v int, PRIMARY KEY (id, region));
INSERT INTO {SCHEMA}.a SELECT g, 'a' || g FROM generate_series(1, 5) g;
INSERT INTO {SCHEMA}.b SELECT g, 'b' || g FROM generate_series(1, 40) g;
INSERT INTO {SCHEMA}.m SELECT g, 'eu', g FROM generate_series(1, 10) g;
INSERT INTO {SCHEMA}.m_us SELECT g, 'us', g FROM generate_series(1, 12) g;
CREATE PUBLICATION {SCHEMA}p FOR TABLE {SCHEMA}.a, {SCHEMA}.m;
"""
DDL = TEMPLATE.format(SCHEMA=SCHEMA)


def test_tables_that_join_the_publication_are_read_whole(postgres: Any, mariadb: Any) -> None:
    src = fresh_source(postgres, mariadb, "joined", DDL, SCHEMA)
    two = stream_into_both(postgres, mariadb, src, "joined", "joinedp")
    src.execute(f"ALTER PUBLICATION joinedp ADD TABLE {SCHEMA}.b")
    src.execute(f"INSERT INTO {SCHEMA}.b VALUES (41, 'new')")
    src.execute(f"UPDATE {SCHEMA}.b SET v = 'changed' WHERE id = 3")
    src.execute(f"DELETE FROM {SCHEMA}.b WHERE id = 4")
    src.execute(f"ALTER TABLE {SCHEMA}.m ATTACH PARTITION {SCHEMA}.m_us FOR VALUES IN ('us')")
    src.execute(f"UPDATE {SCHEMA}.m SET v = -v WHERE id = 2")
    src.execute(f"INSERT INTO {SCHEMA}.a VALUES (6, 'a6')")
    _read_whole(two, SCHEMA, "joined the stream while the run streamed", 40)
    assert _changed_in_mariadb(mariadb, SCHEMA) == (40, 1)
    src.close()


def _read_whole(two: TwoTargets, schema: str, joined: str, rows_of_b: int) -> None:
    """Both runs end; each names ``b`` and ``m_us`` as having ``joined``, and neither the tables
    published from the start; ``verify`` finds ``b``, ``m_us`` and ``a`` equal on both."""
    for err in two.finish().values():
        for table in ("b", "m_us"):
            assert f"{schema}.{table} {joined}" in err, err
        assert f"{schema}.a joined" not in err and f"{schema}.m_eu joined" not in err
    for table, rows in (("b", rows_of_b), ("m_us", 12), ("a", 6)):
        for out in two.verify(f"{schema}.{table}"):
            assert f"{schema}.{table}: equal ({rows} rows" in out


def _changed_in_mariadb(mariadb: Any, schema: str) -> tuple[int, int]:
    """The MariaDB target's count of ``b``'s rows and of those changed, then its database
    dropped."""
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"SELECT count(*), sum(v = 'changed') FROM {schema}.b")
        found = cur.fetchone()
        cur.execute(f"DROP DATABASE {schema}")
    my.close()
    return int(found[0]), int(found[1])


def test_a_table_first_met_in_rows_from_disk_is_read_whole(
    postgres: Any, mariadb: Any, tmp_path: Any
) -> None:
    """The server streams a large transaction in progress (a small
    ``logical_decoding_work_mem``), and past ``--memory-budget`` its rows wait on disk until its
    commit. When a table that joined the publication comes only in those rows, it is read whole
    as well: the transaction's changes to it come first, then enough to another table that
    they are on disk before the commit brings the rest."""
    schema = "joineds"
    src = fresh_source(postgres, mariadb, schema, TEMPLATE.format(SCHEMA=schema), schema)
    src.execute(f"ALTER DATABASE {schema}_src SET logical_decoding_work_mem = '64kB'")
    budget = ["--memory-budget", str(256 << 10), "--spill-dir", str(tmp_path / "spill")]
    two = stream_into_both(postgres, mariadb, src, schema, f"{schema}p", *budget)
    src.execute(f"ALTER PUBLICATION {schema}p ADD TABLE {schema}.b")
    with src.transaction():
        src.execute(
            f"INSERT INTO {schema}.b SELECT g, repeat('x', 200) FROM generate_series(41, 2040) g"
        )
        src.execute(f"UPDATE {schema}.b SET v = 'changed' WHERE id = 3")
        src.execute(
            f"INSERT INTO {schema}.a SELECT g, repeat('a', 200) FROM generate_series(100, 5099) g"
        )
        # The runs poll while the transaction is open, and put what arrived on disk.
        src.execute("SELECT pg_sleep(2)")
    for err in two.finish().values():
        assert "goes to disk until its end" in err, err
        assert f"{schema}.b joined the stream while the run streamed" in err, err
        assert f"{schema}.a joined" not in err, err
    for out in two.verify(f"{schema}.b"):
        assert f"{schema}.b: equal (2040 rows" in out
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"DROP DATABASE {schema}")
    my.close()
    src.close()


def test_tables_that_joined_between_runs_are_read_on_restart(postgres: Any, mariadb: Any) -> None:
    """The stored position names the tables the target holds whole; a restart reads the ones
    published since, with changes after the restart or none."""
    schema = "joinedr"
    src = fresh_source(postgres, mariadb, schema, TEMPLATE.format(SCHEMA=schema), schema)
    stream_into_both(postgres, mariadb, src, schema, f"{schema}p").finish()
    src.execute(f"ALTER PUBLICATION {schema}p ADD TABLE {schema}.b")
    src.execute(f"UPDATE {schema}.b SET v = 'changed' WHERE id = 3")
    src.execute(f"ALTER TABLE {schema}.m ATTACH PARTITION {schema}.m_us FOR VALUES IN ('us')")
    src.execute(f"INSERT INTO {schema}.a VALUES (6, 'a6')")
    two = stream_into_both(postgres, mariadb, src, schema, f"{schema}p")
    src.execute(f"DELETE FROM {schema}.b WHERE id = 4")
    _read_whole(two, schema, "joined the capture while no run streamed", 39)
    # The positions stored since name the tables read: a third run reads nothing again.
    for err in stream_into_both(postgres, mariadb, src, schema, f"{schema}p").finish().values():
        assert "joined the capture" not in err
    assert _changed_in_mariadb(mariadb, schema) == (39, 1)
    src.close()


def test_a_table_added_to_the_listed_tables_is_read_on_restart(postgres: Any, mariadb: Any) -> None:
    """A run of ``--tables a`` stores a position naming ``a`` alone; a restart with ``--tables
    a,b`` reads ``b`` whole, though the publication held it all along."""
    schema = "joinedt"
    src = fresh_source(postgres, mariadb, schema, TEMPLATE.format(SCHEMA=schema), schema)
    source = postgres.dsn_for(postgres.user, None, f"{schema}_src")
    target = postgres.dsn_for(postgres.user, None, f"{schema}_dst")
    src.execute(f"ALTER PUBLICATION {schema}p ADD TABLE {schema}.b")
    errs = []
    for tables in (f"{schema}.a", f"{schema}.a,{schema}.b"):
        run = ["run", "--source", source, "--slot", schema, "--publication", f"{schema}p"]
        run += ["--to", f"{target}?sink_name={schema}", "--create-tables", "--tables", tables]
        proc = cli_popen(*run, "--snapshot", "initial", "--idle-exit", "3")
        wait_slot_active(src, schema, proc)
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        errs.append(err)
    assert f"{schema}.b" not in errs[0]
    assert f"{schema}.b joined the capture while no run streamed" in errs[1]
    assert f"{schema}.a joined" not in errs[1]
    check = cli(
        "verify", "--source", source, "--against", target, "--tables", f"{schema}.a,{schema}.b"
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{schema}.a: equal (5 rows" in check.stdout
    assert f"{schema}.b: equal (40 rows" in check.stdout
    src.close()


VIA_ROOT = """
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.m (id int, region text, v int, PRIMARY KEY (id, region))
  PARTITION BY LIST (region);
CREATE TABLE {SCHEMA}.m_eu PARTITION OF {SCHEMA}.m FOR VALUES IN ('eu');
CREATE TABLE {SCHEMA}.m_us (id int, region text, v int, PRIMARY KEY (id, region));
CREATE TABLE {SCHEMA}.m_asia (v int, region text, id int, PRIMARY KEY (id, region));
INSERT INTO {SCHEMA}.m SELECT g, 'eu', g FROM generate_series(1, 10) g;
INSERT INTO {SCHEMA}.m_us SELECT g, 'us', g FROM generate_series(1, 12) g;
INSERT INTO {SCHEMA}.m_asia SELECT g, 'asia', g FROM generate_series(1, 7) g;
CREATE PUBLICATION {SCHEMA}p FOR TABLE {SCHEMA}.m WITH (publish_via_partition_root = true);
"""


def test_partitions_attached_under_a_root_that_publishes_them_are_read(
    postgres: Any, mariadb: Any
) -> None:
    """Under ``publish_via_partition_root`` a partition's changes come under its root's name, so
    no batch tells of one attached with its rows: the source looks for new partitions every few
    seconds while streaming, and a restart compares them with the stored position. Either way
    the partition is read as rows of its root (``m_asia`` with its columns in another order)."""
    schema = "joinedv"
    src = fresh_source(postgres, mariadb, schema, VIA_ROOT.format(SCHEMA=schema), schema)
    # Idle for longer than the partitions are looked for.
    two = stream_into_both(postgres, mariadb, src, schema, f"{schema}p", "--idle-exit", "14")
    src.execute(f"ALTER TABLE {schema}.m ATTACH PARTITION {schema}.m_us FOR VALUES IN ('us')")
    src.execute(f"UPDATE {schema}.m SET v = -v WHERE id = 2")
    for err in two.finish().values():
        assert f"{schema}.m_us became a partition of {schema}.m while the run streamed" in err
        assert f"{schema}.m_eu became" not in err
    for out in two.verify(f"{schema}.m"):
        assert f"{schema}.m: equal (22 rows" in out
    src.execute(f"ALTER TABLE {schema}.m ATTACH PARTITION {schema}.m_asia FOR VALUES IN ('asia')")
    src.execute(f"UPDATE {schema}.m SET v = 100 WHERE id = 3 AND region = 'asia'")
    two = stream_into_both(postgres, mariadb, src, schema, f"{schema}p")
    for err in two.finish().values():
        assert f"{schema}.m_asia joined the capture while no run streamed" in err
        assert f"{schema}.m_us joined" not in err
    for out in two.verify(f"{schema}.m"):
        assert f"{schema}.m: equal (29 rows" in out
    my = mariadb.connect()
    with my.cursor() as cur:
        cur.execute(f"SELECT region, count(*), sum(v) FROM {schema}.m GROUP BY region ORDER BY 1")
        assert cur.fetchall() == (("asia", 7, 125), ("eu", 10, 51), ("us", 12, 74))
        cur.execute(f"DROP DATABASE {schema}")
    my.close()
    src.close()
