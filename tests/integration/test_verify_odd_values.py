"""``arrowtail verify`` on PostgreSQL values that are legal and common but that Python's datetime
or psycopg's default types cannot hold or compare with what arrowtail stores: ±infinity and BC
dates and timestamps (also inside arrays and a range), ``time '24:00:00'``, NaN and ±Infinity in
numeric arrays, JSON null inside jsonb[], real values, intervals of years, and types arrowtail
carries as their text (multirange, range arrays, xml[], money[], tstzrange, timetz, enums).

Two tables (one of types with a binary codec, streamed in binary tuples, one with text-carried
types, streamed in text tuples) are captured by ``arrowtail run --snapshot initial`` into Parquet
while rows are inserted, updated and deleted: ``verify`` must find both equal (no crash, no false
difference), then find each difference planted afterwards in such a column, by key. The same
tables copied into a second database are compared through the PostgreSQL target path, with
planted differences so that the digests differ and the rows are fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arrowtail.verify.compare import verify
from tests.support.cli import cli, cli_popen
from tests.support.pg_run import fresh_db, wait_slot_active

SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE odd_bin (
  id int PRIMARY KEY,
  d date, ds date[], ts timestamp, tstz timestamptz, tsa timestamp[], tstza timestamptz[],
  t time, ta time[], nums numeric[], n numeric, nn numeric(10,2)[], f4 real, f4a real[],
  f8 float8, f8a float8[], jarr jsonb[], ja json[], jb jsonb, j json, iv interval,
  iva interval[], ttz timetz, m mood, note text
);
CREATE TABLE odd_text (
  id int PRIMARY KEY,
  rng tstzrange, mr int4multirange, rngs int4range[], xmls xml[], money_a money[],
  mon money, ip inet, moods mood[], pt point, note text
);
CREATE PUBLICATION p_bin FOR TABLE odd_bin;
CREATE PUBLICATION p_text FOR TABLE odd_text;
"""

BIN_ROWS = [
    """(1, 'infinity', '{infinity,-infinity,2024-02-29,NULL}', 'infinity', '-infinity',
        '{infinity,"0044-03-15 12:00:00 BC",NULL,"2024-01-01 10:00:00.5"}',
        '{-infinity,"0044-03-15 12:00:00+00 BC"}', '24:00:00', '{24:00:00,12:00:00.5,NULL}',
        '{1.5,NaN,Infinity,-Infinity,NULL}', 'NaN', '{1.50,NULL,-2}', 1.1, '{1.1,NaN,NULL}',
        'NaN', '{NaN,Infinity,-0.1,NULL}', ARRAY['{"k": [1, 2]}'::jsonb, 'null', NULL],
        ARRAY['{"a" : 1}'::json, 'null', NULL], 'null', '"text"',
        '1 year 2 mons -3 days 04:05:06.789', '{"1 year","-1 mons 00:00:01",NULL}',
        '24:00:00+05', 'happy', 'first')""",
    """(2, '-infinity', '{}', '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00+00 BC',
        '{-infinity}', '{infinity,NULL}', '00:00:00', '{}', '{NaN}', 'Infinity', '{}',
        'NaN', '{}', 'Infinity', '{}', '{}', '{}', '[1, "x", null]', '{"b": null, "a": 2}',
        '100000000 years', '{}', '00:00:00-12:30', 'sad', 'second')""",
    """(3, '0044-03-15 BC', '{"4713-01-01 BC","10000-01-01"}', '10000-01-01 00:00:00',
        '4713-01-01 00:00:00+00 BC', '{"0001-01-01 00:00:00"}', '{}', '23:59:59.999999',
        '{00:00:00}', '{-Infinity,0.000001}', '-Infinity', '{99999999.99}', '-Infinity',
        '{-Infinity}', '-Infinity', '{0}', ARRAY['1'::jsonb, '"s"', '[]'], ARRAY['{}'::json],
        '3', '4.50', '-178000000 years', '{"-100000000 years"}', '12:00:00.25+00', 'ok',
        'third')""",
    "(4" + ", NULL" * 24 + ")",
    """(5, '2024-02-29', '{2024-02-29}', '2024-02-29 12:34:56.789012',
        '2024-02-29 12:34:56.5+02', '{"2024-02-29 12:00:00"}', '{"2024-02-29 12:00:00+00"}',
        '12:34:56', '{12:34:56}', '{1.5}', '1.25', '{1.25}', 0.25, '{0.5}', 0.1, '{0.1}',
        ARRAY['{"a": 1}'::jsonb], ARRAY['[1,2]'::json], '{"a": [1, 2]}', '{"b": 1}', '1 day',
        '{"2 days"}', '08:00:00+00', 'ok', 'fifth')""",
]

TEXT_ROWS = [
    """(1, '["2024-01-01 00:00:00+00",infinity)', '{[10,20),[30,40)}',
        '{"[1,2)","[3,9)",empty}', ARRAY['<a>1</a>'::xml, NULL], '{$1.23,-$4.50}', '-$1,234.50',
        '10.0.0.1/8', '{happy,NULL,sad}', '(1.5,-2)', 'first')""",
    """(2, '(-infinity,"0044-03-15 12:00:00+00 BC"]', '{}', '{}', '{}', '{}', '$0.00',
        '10.0.0.1', '{}', '(0,0)', 'second')""",
    """(3, 'empty', '{[1,3)}', '{empty}', ARRAY['<b/>'::xml], '{NULL}', NULL, '::1', '{ok}',
        '(1e300,NaN)', 'third')""",
    "(4" + ", NULL" * 10 + ")",
]

#: While the capture streams: copies of every row under new keys, updates, a key change and a
#: delete, so stream rows (binary tuples for odd_bin, text tuples for odd_text) are compared too.
STREAM = [
    "INSERT INTO {t} SELECT id + 100, {cols} FROM {t} WHERE id < 100",
    "UPDATE {t} SET note = 'updated' WHERE id IN (1, 103)",
    "UPDATE {t} SET id = 1002 WHERE id = 102",
    "DELETE FROM {t} WHERE id = 104",
]


def _columns(conn: Any, table: str) -> str:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 1"
        " AND NOT attisdropped ORDER BY attnum",
        (table,),
    ).fetchall()
    return ", ".join(r[0] for r in rows)


def _fill(conn: Any) -> None:
    conn.execute(SCHEMA)
    conn.execute("INSERT INTO odd_bin VALUES " + ", ".join(BIN_ROWS))
    conn.execute("INSERT INTO odd_text VALUES " + ", ".join(TEXT_ROWS))


def _verify_cli(url: str, table: str, against: str) -> Any:
    args = ["--source", url, "--tables", f"public.{table}", "--against", against]
    return cli("verify", *args, "--recheck", "0")


def test_odd_values_compare_equal_and_planted_differences_are_found(
    postgres: Any, tmp_path: Path
) -> None:
    src = fresh_db(postgres, "vodd_src")
    _fill(src)
    url = postgres.dsn_for(postgres.user, None, "vodd_src")
    runs = []
    for table in ("bin", "text"):
        out = tmp_path / table
        run = ["run", "--source", url, "--slot", f"vodd_{table}", "--publication", f"p_{table}"]
        run += ["--to", f"parquet:{out}", "--snapshot", "initial", "--idle-exit", "3"]
        proc = cli_popen(*run)
        wait_slot_active(src, f"vodd_{table}", proc)
        runs.append(proc)
    for table in ("odd_bin", "odd_text"):
        cols = _columns(src, table)
        for stmt in STREAM:
            src.execute(stmt.format(t=table, cols=cols))
    for proc in runs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err

    parquet = f"parquet:{tmp_path}/"
    for table, kind, rows in (("odd_bin", "bin", 9), ("odd_text", "text", 7)):
        done = _verify_cli(url, table, parquet + kind)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"public.{table}: equal ({rows} rows" in done.stdout, done.stdout

    # A PostgreSQL target holding the same rows, an ordinary and an odd value changed in each
    # table: the digests differ, the rows are fetched and compared (no crash on the odd values),
    # and only the changed rows are reported.
    tgt = fresh_db(postgres, "vodd_tgt")
    _fill(tgt)
    for table in ("odd_bin", "odd_text"):
        cols = _columns(tgt, table)
        for stmt in STREAM:
            tgt.execute(stmt.format(t=table, cols=cols))
    tgt.execute("UPDATE odd_bin SET note = 'planted' WHERE id = 3")
    tgt.execute("UPDATE odd_bin SET tsa[2] = '0045-03-15 12:00:00 BC' WHERE id = 1")
    tgt.execute("UPDATE odd_text SET note = 'planted' WHERE id = 101")
    tgt.execute("UPDATE odd_text SET rng = '(,)' WHERE id = 2")
    target = postgres.dsn_for(postgres.user, None, "vodd_tgt")
    report = verify(url, target, ["public.odd_bin", "public.odd_text"], leaf_rows=1000)
    by_name = {t.table: t for t in report.tables}
    for t in report.tables:
        assert t.chunks_fetched == 1 and not (t.missing or t.extra), report.summary()
    assert by_name["public.odd_bin"].different == [(1,), (3,)], report.summary()
    assert by_name["public.odd_text"].different == [(101,), (2,)], report.summary()

    # Differences in the odd columns themselves, planted in the source after the capture.
    for stmt in (
        "UPDATE odd_bin SET d = '2024-01-01' WHERE id = 1",  # was infinity
        "UPDATE odd_bin SET tsa = '{infinity}' WHERE id = 2",  # was {-infinity}
        "UPDATE odd_bin SET iv = '-178000001 years' WHERE id = 3",  # beyond timedelta
        "UPDATE odd_bin SET jarr[2] = '{}' WHERE id = 5",  # a jsonb[] element, was NULL
        "UPDATE odd_bin SET t = '00:00:00' WHERE id = 101",  # was 24:00:00
        "UPDATE odd_bin SET f4 = 1.2 WHERE id = 103",
        "UPDATE odd_bin SET ds = '{infinity}' WHERE id = 105",  # was {2024-02-29}
        "UPDATE odd_bin SET nums[1] = 0 WHERE id = 1002",  # was NaN
        "UPDATE odd_text SET mr = '{[10,21)}' WHERE id = 1",
        "UPDATE odd_text SET rng = '(-infinity,infinity)' WHERE id = 2",
        "UPDATE odd_text SET xmls = ARRAY['<c/>'::xml] WHERE id = 3",
        "UPDATE odd_text SET money_a = '{$1.24,-$4.50}' WHERE id = 101",
        "UPDATE odd_text SET moods = '{sad}' WHERE id = 1002",  # was {}
    ):
        src.execute(stmt)
    found = {
        table: _verify_cli(url, table, parquet + kind)
        for table, kind in (("odd_bin", "bin"), ("odd_text", "text"))
    }
    for done in found.values():
        assert done.returncode == 1, done.stdout + done.stderr
    bin_out, text_out = found["odd_bin"].stdout, found["odd_text"].stdout
    assert "different 8: 1, 1002, 101, 103, 105, 2, 3, 5" in bin_out, bin_out
    assert "missing" not in bin_out and "extra" not in bin_out, bin_out
    assert "different 5: 1, 1002, 101, 2, 3" in text_out, text_out
    assert "missing" not in text_out and "extra" not in text_out, text_out
    src.close()
    tgt.close()
