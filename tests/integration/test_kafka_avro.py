"""The Avro format of the Kafka sink against a real schema registry (Apicurio Registry, Confluent
API) and a real broker, read by consumers arrowtail did not write.

- confluent-kafka's ``AvroDeserializer``, fetching the writer schemas from the registry by the ids
  in the messages, decodes keys and values to the same events the JSON path writes for the same
  changes (two slots on one publication: one run writes JSON, the other Avro).
- A column type change (integer -> text) under BACKWARD compatibility: the registry refuses the
  new value schema, the run stops naming the table, the column and the registry's reason, no
  message of the new shape reaches the topic and the checkpoint stays before the change; after
  the documented remedy (the subject's compatibility set to NONE) the run goes on from there and
  the new-shape messages arrive. With ``on_incompatible=dead_letter`` a refused batch goes to the
  dead-letter topic as Debezium JSON instead, and the run goes on.
- A MariaDB ALTER TABLE registers the new shape as the subject's next version.
- With ``exactly_once=true`` the Avro messages go in the run's Kafka transactions, and a refused
  schema leaves its transaction uncommitted.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.support.avro_events import as_json, comparable, framed_id
from tests.support.cli import assert_one_clear_line, cli
from tests.support.kafka_topics import consume_until_quiet
from tests.support.mysql_run import PASSWORD_ENV
from tests.support.pg_run import fresh_db

TYPES_SCHEMA = """
CREATE TABLE avro_types (
    id int PRIMARY KEY, small smallint, big bigint NOT NULL, num numeric(12,3), f8 float8,
    ts timestamp, tstz timestamptz, d date, t text NOT NULL, b bytea, u uuid, j jsonb,
    flag boolean, tags text[]
);
CREATE TABLE avro_pair (a int, b text, v int, PRIMARY KEY (a, b));
"""

TYPES_WORKLOAD = """
INSERT INTO avro_types SELECT g, g - 100, g * 10000000000, g * 1.125, g / 3.0,
    timestamp '2024-02-29 12:00:00.000001' + g * interval '1 hour',
    timestamptz '1999-12-31 23:59:59.5+00' + g * interval '1 day', date '2024-02-29' + g,
    'text ' || g || ' ünï "q"', decode(lpad(to_hex(g), 4, '0'), 'hex'), md5(g::text)::uuid,
    jsonb_build_object('g', g, 'a', jsonb_build_array(1, 'x')), g % 2 = 0,
    ARRAY['a' || g, NULL] FROM generate_series(1, 12) g;
INSERT INTO avro_types (id, big, t) VALUES (100, -1, '');
UPDATE avro_types SET num = -0.001, f8 = 'NaN', t = 'changed', tags = '{}' WHERE id % 3 = 0;
UPDATE avro_types SET id = 1000 WHERE id = 7;
DELETE FROM avro_types WHERE id IN (4, 100);
INSERT INTO avro_pair SELECT g % 3, 'b' || g, g FROM generate_series(1, 6) g;
UPDATE avro_pair SET v = -v WHERE a = 1;
DELETE FROM avro_pair WHERE a = 2;
"""


def _run_args(postgres: Any, db: str, slot: str, to: str, checkpoint: Path) -> list[str]:
    return [
        "run",
        "--source",
        postgres.dsn_for(postgres.user, None, db),
        "--slot",
        slot,
        "--publication",
        f"{db}_pub",
        "--to",
        to,
        "--checkpoint",
        str(checkpoint),
    ]


def _deserialized(registry: Any, messages: list[Any]) -> list[tuple[Any, Any]]:
    """Keys and values as confluent-kafka's AvroDeserializer reads them (writer schema fetched
    from the registry by the message's id), in JSON forms."""
    # A registry request that never answers fails the test in a minute instead of hanging it.
    client = SchemaRegistryClient({"url": registry.url, "timeout": 60})
    # The subject named after the topic, as Debezium's converters name it. The client's default
    # first asks the registry for the topic's subject associations, a request reading by
    # schema id does not need (one of them once hung a CI run for the whole test timeout).
    deserialize = AvroDeserializer(client, conf={"subject.name.strategy.type": "TOPIC"})
    out = []
    for m in messages:
        key = deserialize(m.key(), SerializationContext(m.topic(), MessageField.KEY))
        value = None
        if m.value() is not None:
            value = deserialize(m.value(), SerializationContext(m.topic(), MessageField.VALUE))
        out.append((as_json(key), comparable(as_json(value))))
    return out


def _json_pairs(messages: list[Any]) -> list[tuple[Any, Any]]:
    return [
        (
            None if m.key() is None else json.loads(m.key()),
            None if m.value() is None else comparable(json.loads(m.value())),
        )
        for m in messages
    ]


def test_avro_deserializer_reads_the_events_of_the_json_path(
    postgres: Any, kafka: Any, registry: Any, tmp_path: Path
) -> None:
    db = "avro_types_db"
    src = fresh_db(postgres, db)
    src.execute(TYPES_SCHEMA)
    src.execute(f"CREATE PUBLICATION {db}_pub FOR ALL TABLES")
    run_id = uuid.uuid4().hex[:8]
    json_prefix, avro_prefix = f"j{run_id}", f"a{run_id}"
    json_to = f"kafka://{kafka.bootstrap}?topic_prefix={json_prefix}&decimals=precise"
    avro_to = f"kafka://{kafka.bootstrap}?topic_prefix={avro_prefix}&format=avro"
    avro_to += f"&registry={registry.url}"
    runs = [
        _run_args(postgres, db, f"{db}_json", json_to, tmp_path / "json.json"),
        _run_args(postgres, db, f"{db}_avro", avro_to, tmp_path / "avro.json"),
    ]
    # Both slots exist before the changes, so both runs stream the same transactions.
    for args in runs:
        first = cli(*args, "--snapshot", "never", "--idle-exit", "1")
        assert first.returncode == 0, first.stderr
    src.execute(TYPES_WORKLOAD)
    for args in runs:
        second = cli(*args, "--idle-exit", "2")
        assert second.returncode == 0, second.stderr

    for table, count in (("avro_types", 24), ("avro_pair", 12)):
        json_messages = consume_until_quiet(kafka.bootstrap, f"{json_prefix}.public.{table}", 2)
        avro_messages = consume_until_quiet(kafka.bootstrap, f"{avro_prefix}.public.{table}", 2)
        assert len(json_messages) == len(avro_messages) == count, table
        got = _deserialized(registry, avro_messages)
        want = _json_pairs(json_messages)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g == w, f"{table} message {i}"
        # Keys and values name their schemas by the ids registered under TopicName subjects.
        topic = f"{avro_prefix}.public.{table}"
        key_ids = {framed_id(m.key()) for m in avro_messages}
        value_ids = {framed_id(m.value()) for m in avro_messages if m.value() is not None}
        key_subject = registry.request("GET", f"/subjects/{topic}-key/versions/latest")
        value_subject = registry.request("GET", f"/subjects/{topic}-value/versions/latest")
        assert key_ids == {key_subject["id"]} and value_ids == {value_subject["id"]}

    # The values themselves, spot-checked: NULLs, a tombstone after each delete, the key change.
    events = _deserialized(
        registry, consume_until_quiet(kafka.bootstrap, f"{avro_prefix}.public.avro_types", 2)
    )
    late = next(v for k, v in events if v and v["op"] == "c" and k == {"id": 100})
    assert late["after"]["small"] is None and late["after"]["big"] == -1
    assert late["after"]["t"] == "" and late["after"]["tags"] is None
    moved = [(k, v and v["op"]) for k, v in events if k in ({"id": 7}, {"id": 1000})]
    assert moved == [({"id": 7}, "c"), ({"id": 7}, "d"), ({"id": 7}, None), ({"id": 1000}, "c")]
    three = next(v for k, v in events if v and v["op"] == "u" and k == {"id": 3})
    assert three["after"]["f8"] == "NaN" and three["after"]["tags"] == []
    assert three["after"]["j"] == '{"a": [1, "x"], "g": 3}'
    assert three["source"]["table"] == "avro_types" and three["source"]["db"] == db
    src.close()


def test_incompatible_change_stops_the_run_until_the_subject_accepts_it(
    postgres: Any, kafka: Any, registry: Any, tmp_path: Path
) -> None:
    db = "avro_evolve_db"
    src = fresh_db(postgres, db)
    src.execute("CREATE TABLE evolve (id int PRIMARY KEY, n int)")
    src.execute(f"CREATE PUBLICATION {db}_pub FOR ALL TABLES")
    src.execute("INSERT INTO evolve VALUES (1, 1), (2, 2)")
    prefix = f"e{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.evolve"
    subject = f"{topic}-value"
    checkpoint = tmp_path / "cp.json"
    to = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&format=avro&registry={registry.url}"
    args = _run_args(postgres, db, f"{db}_slot", to, checkpoint)
    first = cli(*args, "--snapshot", "initial", "--idle-exit", "2")
    assert first.returncode == 0, first.stderr
    assert len(consume_until_quiet(kafka.bootstrap, topic, 2)) == 2
    registry.set_compatibility(subject, "BACKWARD")
    assert registry.versions(subject) == [1]

    src.execute("INSERT INTO evolve VALUES (3, 3)")
    streamed = cli(*args, "--idle-exit", "2")
    assert streamed.returncode == 0, streamed.stderr
    before_change = json.loads(checkpoint.read_text())["position"]

    src.execute("ALTER TABLE evolve ALTER COLUMN n TYPE text USING n::text")
    src.execute("INSERT INTO evolve VALUES (4, 'four')")
    refused = cli(*args, "--idle-exit", "2")
    line = assert_one_clear_line(
        refused.returncode, refused.stderr, "no-password", "public.evolve", "column n", subject
    )
    assert refused.returncode == 3
    assert "int -> string" in line and "BACKWARD" in line and "incompatible" in line.lower()
    assert "compatibility to NONE" in line
    # Nothing of the new shape reached the topic, and the checkpoint is still the one of the
    # commit before the ALTER; a second try stops at the same place.
    events = _deserialized(registry, consume_until_quiet(kafka.bootstrap, topic, 2))
    assert [k["id"] for k, _ in events] == [1, 2, 3]
    assert json.loads(checkpoint.read_text())["position"] == before_change
    assert registry.versions(subject) == [1]
    again = cli(*args, "--idle-exit", "2")
    assert again.returncode == 3, again.stderr
    assert json.loads(checkpoint.read_text())["position"] == before_change
    assert len(consume_until_quiet(kafka.bootstrap, topic, 2)) == 3

    # The remedy: the subject accepts the new schema; the run goes on from the change.
    registry.set_compatibility(subject, "NONE")
    resumed = cli(*args, "--idle-exit", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert registry.versions(subject) == [1, 2]
    events = _deserialized(registry, consume_until_quiet(kafka.bootstrap, topic, 2))
    # The ALTER rewrote the table while no run streamed (n::text computed anew), so the run
    # reads it again after the insert: once, though each refused start asked for it.
    assert [k["id"] for k, _ in events] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert [v["after"]["n"] for _, v in events[4:]] == ["1", "2", "3", "four"]
    assert [v["op"] for _, v in events[3:]] == ["c", "r", "r", "r", "r"]
    assert events[-1][1]["after"] == {"id": 4, "n": "four"}
    assert json.loads(checkpoint.read_text())["position"] != before_change

    # With on_incompatible=dead_letter a refused batch goes to the dead-letter topic instead.
    registry.set_compatibility(subject, "BACKWARD")
    src.execute("ALTER TABLE evolve ALTER COLUMN n TYPE boolean USING n IS NOT NULL")
    src.execute("INSERT INTO evolve VALUES (5, true)")
    src.execute("ALTER TABLE evolve ALTER COLUMN n TYPE text USING n::text")
    src.execute("INSERT INTO evolve VALUES (6, 'six')")
    dlq_args = [*args]
    dlq_args[dlq_args.index("--to") + 1] = to + "&on_incompatible=dead_letter"
    routed = cli(*dlq_args, "--idle-exit", "2")
    assert routed.returncode == 0, routed.stderr
    events = _deserialized(registry, consume_until_quiet(kafka.bootstrap, topic, 2))
    assert events[-1][0] == {"id": 6} and events[-1][1]["after"] == {"id": 6, "n": "six"}
    letters = consume_until_quiet(kafka.bootstrap, f"{prefix}.dlq", 2)
    assert len(letters) == 1
    headers = {k: v.decode() for k, v in letters[0].headers()}
    assert headers["arrowtail.table"] == "public.evolve"
    assert headers["arrowtail.topic"] == topic and headers["arrowtail.subject"] == subject
    assert headers["arrowtail.format"] == "debezium-json"
    assert "schema refused by the registry" in headers["arrowtail.reason"]
    letter = json.loads(letters[0].value())
    assert letter["payload"]["after"] == {"id": 5, "n": True}
    assert json.loads(letters[0].key())["payload"] == {"id": 5}
    src.close()


def test_mariadb_ddl_registers_the_new_shape(
    mariadb: Any, kafka: Any, registry: Any, tmp_path: Path
) -> None:
    """A MariaDB ALTER TABLE is a schema change: the new value schema is registered as the
    subject's next version (the registry's default level here is NONE), and the deserializer reads
    events of both shapes, MySQL semantic types (spatial columns as Debezium's ``Point`` and
    ``Geometry`` records) and ``source`` facts included."""
    db = "avro_my"
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"USE {db}")
        cur.execute(
            "CREATE TABLE items (id int PRIMARY KEY, name varchar(20) NOT NULL, "
            "price decimal(8,2), at datetime(6), tags set('a','b'), kind enum('x','y'),"
            " p point, g geometry, g2 linestring)"
        )
        cur.execute(
            "INSERT INTO items VALUES (1, 'one', 1.50, '2024-02-29 12:00:00.5', 'a,b', 'x',"
            " ST_GeomFromText('POINT(1.5 -2)', 4326), ST_GeomFromText('POINT(1 2)'),"
            " ST_GeomFromText('LINESTRING(0 0, 1 1)', 3857))"
        )
    mariadb.grant_capture(db)
    prefix = f"m{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.{db}.items"
    env = dict(os.environ, **{PASSWORD_ENV: mariadb.capture_password})
    args = ["run", "--source", mariadb.capture_url + db, "--password-env", PASSWORD_ENV]
    args += ["--to", f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&format=avro"]
    args[-1] += f"&registry={registry.url}"
    args += ["--checkpoint", str(tmp_path / "cp.json")]
    first = cli(*args, "--snapshot", "initial", "--idle-exit", "2", env=env)
    assert first.returncode == 0, first.stderr
    with conn.cursor() as cur:
        cur.execute(f"USE {db}")
        cur.execute("ALTER TABLE items ADD COLUMN note text")
        cur.execute(
            "INSERT INTO items (id, name, tags, kind, note) VALUES (2, 'two', '', 'y', 'hello')"
        )
        cur.execute("UPDATE items SET price = 2 WHERE id = 1")
        cur.execute("DELETE FROM items WHERE id = 1")
    second = cli(*args, "--idle-exit", "2", env=env)
    assert second.returncode == 0, second.stderr
    conn.close()

    assert registry.versions(f"{topic}-value") == [1, 2]
    assert registry.versions(f"{topic}-key") == [1]
    events = _deserialized(registry, consume_until_quiet(kafka.bootstrap, topic, 2))
    assert [(k["id"], v and v["op"]) for k, v in events] == [
        (1, "r"),
        (2, "c"),
        (1, "u"),
        (1, "d"),
        (1, None),
    ]
    snapshot, insert, update = events[0][1], events[1][1], events[2][1]
    assert "note" not in snapshot["after"]
    assert snapshot["after"]["tags"] == "a,b" and snapshot["after"]["kind"] == "x"
    assert snapshot["after"]["at"] == 1709208000500000
    assert insert["after"]["note"] == "hello" and insert["after"]["price"] is None
    assert update["after"]["note"] is None and update["source"]["file"].startswith("mysql-bin.")
    assert update["source"]["server_id"] == mariadb.server_id

    # Spatial columns as Debezium's Point and Geometry records (the WKB after the stored SRID;
    # bytes in the JSON form, base64).
    def wkb(kind: int, *parts: bytes) -> str:
        return base64.b64encode(b"\x01" + struct.pack("<I", kind) + b"".join(parts)).decode()

    point = wkb(1, struct.pack("<dd", 1.5, -2.0))
    assert snapshot["after"]["p"] == {"x": 1.5, "y": -2.0, "wkb": point, "srid": 4326}
    assert snapshot["after"]["g"] == {"wkb": wkb(1, struct.pack("<dd", 1, 2)), "srid": None}
    line = wkb(2, struct.pack("<Idddd", 2, 0, 0, 1, 1))
    assert snapshot["after"]["g2"] == {"wkb": line, "srid": 3857}
    assert update["after"]["p"] == snapshot["after"]["p"] and insert["after"]["g"] is None


def test_avro_inside_kafka_transactions(
    postgres: Any, kafka: Any, registry: Any, tmp_path: Path
) -> None:
    """With ``exactly_once=true`` the Avro messages are written in the run's Kafka transactions:
    a read_committed consumer decodes them, and a refused schema stops the run with the
    transaction it was in left uncommitted, so no message of the new shape becomes visible."""
    db = "avro_eos_db"
    src = fresh_db(postgres, db)
    src.execute("CREATE TABLE eos (id int PRIMARY KEY, n int)")
    src.execute(f"CREATE PUBLICATION {db}_pub FOR ALL TABLES")
    src.execute("INSERT INTO eos SELECT g, g FROM generate_series(1, 5) g")
    prefix = f"x{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.public.eos"
    to = f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&format=avro&registry={registry.url}"
    to += "&exactly_once=true"
    args = _run_args(postgres, db, f"{db}_slot", to, tmp_path / "cp.json")
    first = cli(*args, "--snapshot", "initial", "--idle-exit", "2")
    assert first.returncode == 0, first.stderr
    registry.set_compatibility(f"{topic}-value", "BACKWARD")
    src.execute("UPDATE eos SET n = -n WHERE id = 2")
    second = cli(*args, "--idle-exit", "2")
    assert second.returncode == 0, second.stderr
    src.execute("ALTER TABLE eos ALTER COLUMN n TYPE text USING n::text")
    src.execute("INSERT INTO eos VALUES (6, 'six')")
    third = cli(*args, "--idle-exit", "2")
    assert third.returncode == 3 and "column n: int -> string" in third.stderr, third.stderr
    events = _deserialized(registry, consume_until_quiet(kafka.bootstrap, topic, 2))
    assert [(k["id"], v["op"]) for k, v in events] == [(i, "r") for i in range(1, 6)] + [(2, "u")]
    assert events[-1][1]["after"] == {"id": 2, "n": -2}
    src.close()
