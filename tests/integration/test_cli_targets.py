"""The CLI against the other destinations, end to end on real servers: the demo, PostgreSQL ->
Kafka (Debezium JSON read back and replayed), and PostgreSQL -> PostgreSQL followed by
``arrowtail verify``."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli, cli_popen
from tests.support.kafka_topics import consume_until_quiet
from tests.support.pg_run import drop_slot, fresh_db, wait_slot_active

SCHEMA = """
CREATE TABLE items (id bigint PRIMARY KEY, name text, qty integer, price numeric(10,2));
"""


def workload(conn: Any) -> None:
    conn.execute(
        "INSERT INTO items SELECT g, 'item ' || g, g % 9, g * 1.25 FROM generate_series(1, 500) g"
    )
    for i in range(10):
        conn.execute("UPDATE items SET qty = qty + 1 WHERE id %% 10 = %s", (i,))
    conn.execute("DELETE FROM items WHERE id % 7 = 0")
    conn.execute("UPDATE items SET id = id + 10000 WHERE id = 1")


def source_rows(conn: Any) -> dict[int, dict[str, Any]]:
    cur = conn.execute("SELECT id, name, qty, price FROM items")
    return {r[0]: {"id": r[0], "name": r[1], "qty": r[2], "price": r[3]} for r in cur}


def test_demo_reports_an_equal_replay() -> None:
    out = cli("demo", "--rows", "3000")
    assert out.returncode == 0, out.stderr
    assert "public.orders: equal" in out.stdout
    assert "public.customers: equal" in out.stdout
    assert "\n  equal" in out.stdout
    assert "insert 3000" in out.stdout or "snapshot" in out.stdout


def test_postgres_to_kafka_replays_to_the_source(postgres: Any, kafka: Any, tmp_path: Path) -> None:
    conn = fresh_db(postgres, "cli_kafka")
    conn.execute(SCHEMA)
    conn.execute("CREATE PUBLICATION kp FOR ALL TABLES")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    args = [
        "run",
        "--source",
        postgres.dsn_for(postgres.user, None, "cli_kafka"),
        "--slot",
        "kslot",
        "--publication",
        "kp",
        "--to",
        f"kafka://{kafka.bootstrap}?topic_prefix={prefix}",
        "--checkpoint",
        str(tmp_path / "cp.json"),
        "--idle-exit",
        "3",
    ]
    # Creates the slot, then stops; the workload afterwards is streamed by the second run.
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    workload(conn)
    second = cli(*args)
    assert second.returncode == 0, second.stderr
    assert json.loads((tmp_path / "cp.json").read_text())["position"]["lsn"] > 0

    messages = consume_until_quiet(kafka.bootstrap, f"{prefix}.public.items")
    events = [json.loads(m.value()) for m in messages if m.value() is not None]
    events.sort(key=lambda e: (e["source"]["lsn"], e["source"]["seq"]))
    image: dict[int, dict[str, Any]] = {}
    for e in events:
        if e["op"] == "d":
            image.pop(e["before"]["id"], None)
        else:
            if e["op"] == "u" and e["before"] is not None:
                image.pop(e["before"]["id"], None)
            image[e["after"]["id"]] = e["after"]
    want = source_rows(conn)
    assert sorted(image) == sorted(want)
    for key, row in want.items():
        got = image[key]
        assert got["name"] == row["name"] and got["qty"] == row["qty"]
        assert Decimal(got["price"]) == row["price"]
    # Deletes are followed by a tombstone (same key, no value).
    assert any(m.value() is None for m in messages)
    conn.close()


def test_postgres_to_postgres_then_verify(postgres: Any, tmp_path: Path) -> None:
    conn = fresh_db(postgres, "cli_src")
    target = fresh_db(postgres, "cli_tgt")
    conn.execute(SCHEMA)
    conn.execute("CREATE PUBLICATION tp FOR ALL TABLES")
    conn.execute("INSERT INTO items VALUES (-1, 'before the slot', 1, 1.00)")
    source_url = postgres.dsn_for(postgres.user, None, "cli_src")
    target_url = postgres.dsn_for(postgres.user, None, "cli_tgt") + "?create_tables=1"
    args = ["run", "--source", source_url, "--slot", "tslot", "--publication", "tp"]
    args += ["--to", target_url, "--snapshot", "initial", "--idle-exit", "3"]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    workload(conn)
    second = cli(*args[:-4], "--idle-exit", "3")
    assert second.returncode == 0, second.stderr
    equal = cli("verify", "--source", source_url, "--against", target_url.split("?")[0])
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert "public.items: equal" in equal.stdout
    # A planted difference is found and named.
    target.execute("UPDATE items SET qty = 999 WHERE id = 2")
    different = cli("verify", "--source", source_url, "--against", target_url.split("?")[0])
    assert different.returncode == 1
    assert "different 1: 2" in different.stdout
    conn.close()
    target.close()


ODD_SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TYPE shade AS ENUM ('dark', 'light');
CREATE DOMAIN note AS text CHECK (VALUE <> '');
CREATE TABLE odd (
  id int PRIMARY KEY, ip inet, net cidr, mac macaddr, r int4range, tr tstzrange,
  big numeric(50,2), b3 bit(3), vb varbit(8), x xml, tv tsvector, tz timetz, m money, pt point,
  ips inet[], md mood, mds mood[], sh shade, name varchar(20), tags text[], n numeric(10,2),
  nt note
);
"""
ODD_ROW = (
    "INSERT INTO odd VALUES ({k}, '10.0.{k}.1/24', '10.{k}.0.0/16', '08:00:2b:01:02:0{k}',"
    " '[{k},{k}0)', '[2024-01-01 00:00+02,2024-02-0{k} 12:00+00)', 123456789012345678901234.5{k},"
    " B'10{b}', B'1{b}1', '<a k=\"{k}\">x</a>', 'fat cat {k}', '12:00:0{k}+05:30', {k}.25,"
    " '({k},-{k}.5)', '{{10.0.0.{k},NULL}}', 'ok', '{{sad,NULL,ok}}', 'light', 'n{k}',"
    " '{{a,\"b c\"}}', {k}.5, 'n')"
)
# The type each column gets in a target that holds the enum mood (not shade): the source's own,
# without a type modifier where a later widening at the source would not fit it.
ODD_TARGET_TYPES = {
    "id": "integer", "ip": "inet", "net": "cidr", "mac": "macaddr", "r": "int4range",
    "tr": "tstzrange", "big": "numeric", "b3": "bit(3)", "vb": "bit varying", "x": "xml",
    "tv": "tsvector", "tz": "time with time zone", "m": "money", "pt": "point",
    "ips": "inet[]", "md": "mood", "mds": "mood[]", "sh": "text", "name": "text",
    "tags": "text[]", "n": "numeric(10,2)", "nt": "text",
}  # fmt: skip


def test_postgres_to_postgres_creates_columns_of_the_sources_types(
    postgres: Any, tmp_path: Path
) -> None:
    """``--create-tables`` from PostgreSQL into PostgreSQL: a column carried as text although it
    is not text gets the source's type where the target database knows it (an enum created
    there first, ``inet``, ranges, ...), else ``text`` with a warning naming it; the snapshot
    and the changes after it reach the target, which ``verify`` finds equal."""
    conn = fresh_db(postgres, "odd_src")
    target = fresh_db(postgres, "odd_tgt")
    conn.execute(ODD_SCHEMA)
    target.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    conn.execute("CREATE PUBLICATION op FOR ALL TABLES")
    conn.execute(ODD_ROW.format(k=1, b=1))
    conn.execute("INSERT INTO odd (id) VALUES (9)")
    source_url = postgres.dsn_for(postgres.user, None, "odd_src")
    target_url = postgres.dsn_for(postgres.user, None, "odd_tgt")
    args = ["run", "--source", source_url, "--slot", "oslot", "--publication", "op"]
    args += ["--to", target_url, "--create-tables", "--snapshot", "initial", "--idle-exit", "3"]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    warning = "target table public.odd, column sh: type shade is not in the target database"
    assert warning in first.stderr, first.stderr
    # A domain over text is text: nothing to warn about.
    assert "column nt:" not in first.stderr, first.stderr
    conn.execute(ODD_ROW.format(k=2, b=0))
    conn.execute("UPDATE odd SET ip = '192.168.0.1', r = '[5,6)', md = 'sad' WHERE id = 1")
    conn.execute("UPDATE odd SET mds = '{ok}', tags = '{x}' WHERE id = 9")
    second = cli(*args)
    assert second.returncode == 0, second.stderr
    types = dict(
        target.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'public.odd'::regclass AND attnum > 0 AND NOT attisdropped"
        ).fetchall()
    )
    assert types == ODD_TARGET_TYPES
    equal = cli("verify", "--source", source_url, "--against", target_url)
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert "public.odd: equal" in equal.stdout
    conn.close()
    target.close()
    drop_slot(postgres, "odd_src", "oslot")


def test_a_replica_identity_index_other_than_the_key_keys_the_target_or_is_refused(
    postgres: Any,
) -> None:
    # REPLICA IDENTITY USING INDEX on a table with a primary key: a delete names its row by the
    # index columns only and a key change hides the old key. Applied by the primary key, rows
    # were left behind without a word (the target kept 4 rows where the source had 1). Every
    # change of such a table, the snapshot's too, is keyed by the index: a table the target
    # creates is keyed by it and follows the source; one keyed by the primary key is refused
    # before a row is written.
    conn = fresh_db(postgres, "cli_ri_src")
    conn.execute(
        "CREATE TABLE ri (id int PRIMARY KEY, code text NOT NULL, v int);"
        "CREATE UNIQUE INDEX ri_code ON ri (code);"
        "ALTER TABLE ri REPLICA IDENTITY USING INDEX ri_code;"
        "INSERT INTO ri VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);"
        "CREATE PUBLICATION rp FOR ALL TABLES"
    )
    source_url = postgres.dsn_for(postgres.user, None, "cli_ri_src")

    created = fresh_db(postgres, "cli_ri_tgt")
    target_url = postgres.dsn_for(postgres.user, None, "cli_ri_tgt")
    args = ["run", "--source", source_url, "--slot", "rislot", "--publication", "rp"]
    args += ["--to", target_url + "?create_tables=1", "--idle-exit", "3", "--snapshot", "initial"]
    proc = cli_popen(*args)  # the snapshot, then the changes in the same run
    wait_slot_active(conn, "rislot", proc)
    conn.execute("UPDATE ri SET id = 10 WHERE id = 1")
    conn.execute("UPDATE ri SET code = 'cc' WHERE id = 3")
    conn.execute("DELETE FROM ri WHERE id = 2")
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    key = created.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'ri'::regclass AND i.indisprimary"
    ).fetchall()
    assert key == [("code",)]
    want = conn.execute("SELECT id, code, v FROM ri ORDER BY id").fetchall()
    assert want == [(3, "cc", 3), (10, "a", 1)]
    assert created.execute("SELECT id, code, v FROM ri ORDER BY id").fetchall() == want
    equal = cli("verify", "--source", source_url, "--against", target_url)
    assert equal.returncode == 0, equal.stdout + equal.stderr
    created.close()

    keyed_by_id = fresh_db(postgres, "cli_ri_tgt")
    keyed_by_id.execute("CREATE TABLE ri (id int PRIMARY KEY, code text NOT NULL, v int)")
    args = ["run", "--source", source_url, "--slot", "rislot2", "--publication", "rp"]
    args += ["--to", target_url, "--idle-exit", "3", "--snapshot", "initial"]
    refused = cli(*args)
    assert refused.returncode == 3, refused.stderr
    assert "public.ri has REPLICA IDENTITY USING INDEX (code)" in refused.stderr
    assert "REPLICA IDENTITY FULL" in refused.stderr
    assert keyed_by_id.execute("SELECT count(*) FROM ri").fetchone() == (0,)
    keyed_by_id.close()
    conn.close()
    for slot in ("rislot", "rislot2"):
        drop_slot(postgres, "cli_ri_src", slot)


def test_capture_then_decode_equals_the_source(postgres: Any, tmp_path: Path) -> None:
    conn = fresh_db(postgres, "cli_capture")
    conn.execute(SCHEMA)
    conn.execute("CREATE PUBLICATION cp FOR ALL TABLES")
    source = postgres.dsn_for(postgres.user, None, "cli_capture")
    capture = tmp_path / "cap.bin"
    args = ["capture", "--source", source, "--slot", "cslot", "--publication", "cp"]
    args += ["--out", str(capture), "--idle-exit", "3"]
    first = cli(*args)  # creates the slot
    assert first.returncode == 0, first.stderr
    workload(conn)
    second = cli(*args)
    assert second.returncode == 0, second.stderr
    assert capture.stat().st_size > 0
    out = tmp_path / "decoded"
    decoded = cli("decode", "--format", "pgoutput", str(capture), "--to", f"parquet:{out}")
    assert decoded.returncode == 0, decoded.stderr

    from tests.support.replay import parquet_changes, replay

    image = replay(parquet_changes(out))["public.items"]
    got = {k[0]: v for k, v in image.items()}
    want = source_rows(conn)
    assert got == want
    conn.close()


def test_decode_binlog_files_from_the_cli(tmp_path: Path) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "binlog"
    path = fixtures / "mysql-bin.checksum-crc32"
    if not path.exists():
        pytest.fail(f"binlog fixtures missing at {fixtures}")
    out = tmp_path / "jsonl.txt"
    done = cli("decode", "--format", "binlog", str(path), "--to", f"jsonl:{out}")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows, "no rows decoded"
    assert {r["op"] for r in rows} >= {"c", "u", "d"}  # Debezium envelopes, one per line
    broken = cli(
        "decode",
        "--format",
        "binlog",
        str(fixtures / "corrupt-magic.000001"),
        "--to",
        f"jsonl:{tmp_path / 'x'}",
    )
    assert broken.returncode == 2
    assert broken.stderr.strip().splitlines()[-1].startswith("arrowtail: error:")
    assert "Traceback" not in broken.stderr
