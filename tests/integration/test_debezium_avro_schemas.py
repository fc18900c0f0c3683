"""Avro schemas compared with Debezium's own: Debezium's PostgreSQL connector (3.5, in Kafka
Connect) writes the tables of ``test_debezium_golden.py`` through Apicurio's Avro converter, which
registers the Avro schemas Kafka Connect's Avro mapping makes of Debezium's Connect schemas;
arrowtail registers its own for the same tables (``format=avro``). Key and envelope schemas must be
equal, record names and namespaces included, apart from the differences docs/debezium.md lists:
every ``Value`` column nullable, arrowtail's ``source.seq``, and the columns of ``g_ext`` whose
JSON differs too (:data:`ALLOWED_COLUMNS`). A column added with a default
before the snapshot has that default on both sides, its type first in the union.

Both sides also write Debezium's transaction metadata: after the snapshots, a transaction over
two tables is streamed, and the transaction topic's schemas and its BEGIN and END events, and the
events' ``transaction`` blocks, read back through the registry, are equal.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_debezium_golden import SCHEMA, SEED, TABLES
from tests.integration.test_debezium_jdbc_avro import avro_converters
from tests.servers._process import require_servers
from tests.servers.connect import find_avro_converter
from tests.support.avro_events import decode, framed_id
from tests.support.cli import cli
from tests.support.kafka_topics import consume_until_quiet
from tests.support.pg_run import drop_slot, fresh_db

#: A column added with a value for the rows already there, before both snapshots.
ADDED = "ALTER TABLE g_more ADD COLUMN added text DEFAULT 'd'"

#: Columns whose Avro types differ from Debezium's for the reasons docs/debezium.md gives (the
#: same differences as in JSON): ``(table, column)``. An entry that no longer differs fails too.
ALLOWED_COLUMNS: dict[tuple[str, str], str] = {
    ("g_ext", "hsa"): "an array of an extension type is its text; Debezium's is an array",
    ("g_ext", "lta"): "an array of an extension type is its text; Debezium's is an array",
    **{
        ("g_geo", column): "Debezium leaves out a column of a geometric type other than point"
        for column in ("bx", "ls", "pa", "po", "ci", "ln", "pp")
    },
}


#: Columns whose snapshot values differ between the two sides' Avro events: the arrays of
#: extension types (their text against Debezium's arrays) and a ``bit varying(1)``, which
#: Debezium's snapshot reads as null (docs/debezium.md).
AVRO_VALUES_ALLOWED = ("hsa", "lta", "v1")


def _snapshot_rows(kafka: Any, registry: Any, topic: str) -> dict[int, dict[str, Any]]:
    """The ``after`` image of each snapshot event of ``topic``, by ``id``, decoded with the
    schema the event names in the registry."""
    rows = {}
    for message in consume_until_quiet(kafka.bootstrap, topic, quiet=1):
        schema = registry.request("GET", f"/schemas/ids/{framed_id(message.value())}")["schema"]
        after = decode(message.value(), schema)["after"]
        rows[after["id"]] = after
    return rows


def _latest(registry: Any, subject: str, deadline: float, connect: Any, name: str) -> Any:
    """The latest schema of ``subject``, parsed, waiting for it until ``deadline``."""
    while True:
        try:
            return json.loads(
                registry.request("GET", f"/subjects/{subject}/versions/latest")["schema"]
            )
        except AssertionError:
            connect.raise_if_failed(name)
            assert time.monotonic() < deadline, f"{subject} never registered"
            time.sleep(1)


def _renamed(schema: Any, prefix: str) -> Any:
    """``schema`` with the producer's topic prefix in names replaced by ``PREFIX``."""
    text = json.dumps(schema).replace(f'"{prefix}.', '"PREFIX.')
    return json.loads(text)


def _decoded(kafka: Any, registry: Any, topic: str, quiet: float = 1) -> list[tuple[Any, Any]]:
    """``(key, value)`` of every message of ``topic``, decoded with the schemas they name."""

    def read(raw: bytes | None) -> Any:
        if raw is None:
            return None
        schema = registry.request("GET", f"/schemas/ids/{framed_id(raw)}")["schema"]
        return decode(raw, schema)

    return [
        (read(m.key()), read(m.value()))
        for m in consume_until_quiet(kafka.bootstrap, topic, quiet=quiet)
    ]


def _assert_same_transactions(
    src: Any,
    args: list[str],
    kafka: Any,
    registry: Any,
    connect: Any,
    name: str,
    prefixes: tuple[str, str],
) -> None:
    """A streamed transaction over two tables: both sides' transaction topics (schemas, BEGIN
    and END) and the events' ``transaction`` blocks are equal."""
    mine, dbz = prefixes
    src.execute(
        "INSERT INTO g_pair VALUES (7, 'tx', 1); UPDATE g_full SET note = 'in tx' WHERE id = 1;"
        " INSERT INTO g_pair VALUES (8, 'tx', 2)"
    )
    streamed = cli(*[a for a in args if a not in ("--snapshot", "initial")])
    assert streamed.returncode == 0, streamed.stderr
    deadline = time.monotonic() + 120
    while len(_decoded(kafka, registry, f"{dbz}.transaction")) < 2:
        connect.raise_if_failed(name)
        assert time.monotonic() < deadline, "Debezium wrote no transaction events"
        time.sleep(1)
    for side in ("key", "value"):
        ours = _latest(registry, f"{mine}.transaction-{side}", deadline, connect, name)
        theirs = _latest(registry, f"{dbz}.transaction-{side}", deadline, connect, name)
        assert ours == theirs, (side, ours, theirs)
    events = {p: _decoded(kafka, registry, f"{p}.transaction") for p in prefixes}
    for _, value in events[mine] + events[dbz]:
        if value["data_collections"] is not None:
            value["data_collections"].sort(key=lambda c: c["data_collection"])
    assert events[mine] == events[dbz]
    ((_, begin), (_, end)) = events[mine]
    assert (begin["status"], end["status"], end["event_count"]) == ("BEGIN", "END", 3)
    assert end["data_collections"] == [
        {"data_collection": "public.g_full", "event_count": 1},
        {"data_collection": "public.g_pair", "event_count": 2},
    ]
    for table in ("g_pair", "g_full"):
        blocks = {
            p: [
                v["transaction"]
                for _, v in _decoded(kafka, registry, f"{p}.public.{table}")
                if v is not None and v["op"] != "r"
            ]
            for p in prefixes
        }
        assert blocks[mine] == blocks[dbz], table
        assert all(
            b is not None and b["id"].startswith(begin["id"].split(":")[0] + ":")
            for b in blocks[mine]
        ), blocks[mine]


def _value_differences(mine: Any, theirs: Any) -> list[str]:
    """What differs between two envelope schemas, apart from the allowed differences."""
    out = []
    mine_fields = {f["name"]: f for f in mine["fields"]}
    theirs_fields = {f["name"]: f for f in theirs["fields"]}
    if list(mine_fields) != list(theirs_fields):
        out.append(f"envelope fields {list(mine_fields)} != {list(theirs_fields)}")
    for key in ("name", "namespace", "connect.name", "connect.version", "type"):
        if mine.get(key) != theirs.get(key):
            out.append(f"envelope {key}: {mine.get(key)!r} != {theirs.get(key)!r}")
    mine_value, theirs_value = mine_fields["before"]["type"][1], theirs_fields["before"]["type"][1]
    for key in ("name", "namespace", "connect.name", "type"):
        if mine_value.get(key) != theirs_value.get(key):
            out.append(f"Value {key}: {mine_value.get(key)!r} != {theirs_value.get(key)!r}")
    theirs_columns = {f["name"]: f for f in theirs_value["fields"]}
    mine_names = [f["name"] for f in mine_value["fields"]]
    out += [f"Value.{n}: absent from Debezium's" for n in mine_names if n not in theirs_columns]
    out += [f"Value.{n}: absent from arrowtail's" for n in theirs_columns if n not in mine_names]
    if [n for n in mine_names if n in theirs_columns] != [
        n for n in theirs_columns if n in mine_names
    ]:
        out.append("Value columns in another order")
    for column in mine_value["fields"]:
        theirs_column = theirs_columns.get(column["name"])
        if theirs_column is None:
            continue
        if column.get("default") is None:
            assert column["type"][0] == "null" and column.get("default", 0) is None, column
            mine_type = column["type"][1]
        else:
            # A default that is not null: the type first, as Avro wants, on both sides.
            assert column["type"][1] == "null", column
            mine_type = column["type"][0]
        if column.get("default") != theirs_column.get("default"):
            out.append(
                f"Value.{column['name']} default: {column.get('default')!r} != "
                f"{theirs_column.get('default')!r}"
            )
        theirs_type = theirs_column["type"]
        if isinstance(theirs_type, list):
            theirs_type = next(t for t in theirs_type if t != "null")
        if mine_type != theirs_type:
            out.append(f"Value.{column['name']}: {mine_type!r} != {theirs_type!r}")
    for field in ("after", "transaction", "op", "ts_ms", "ts_us", "ts_ns"):
        if mine_fields[field] != theirs_fields.get(field):
            out.append(f"{field}: {mine_fields[field]!r} != {theirs_fields.get(field)!r}")
    mine_source = dict(mine_fields["source"]["type"])
    theirs_source = dict(theirs_fields["source"]["type"])
    mine_source["fields"] = [f for f in mine_source["fields"] if f["name"] != "seq"]
    if mine_source != theirs_source:
        out.append(f"source: {mine_source!r} != {theirs_source!r}")
    return out


def test_avro_schemas_match_what_debeziums_converter_registers(
    postgres: Any, kafka: Any, registry: Any, connect: Any, tmp_path: Path
) -> None:
    if find_avro_converter() is None:
        reason = "Apicurio's Avro converter not in the cache; run scripts/fetch-registry.sh"
        if require_servers():
            pytest.fail(f"{reason} (ARROWTAIL_REQUIRE_SERVERS=1)")
        pytest.skip(reason)
    src = fresh_db(postgres, "agold_src")
    src.execute(SCHEMA)
    src.execute("CREATE PUBLICATION agoldpub FOR ALL TABLES")
    src.execute(SEED)
    src.execute(ADDED)
    run = uuid.uuid4().hex[:8]
    dbz, mine = f"dbz{run}", f"at{run}"
    name = f"agold-{run}"
    converters = avro_converters(registry)
    for side in ("key", "value"):
        converters[f"{side}.converter.apicurio.registry.auto-register"] = "true"
    connect.add_connector(
        name,
        {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "database.hostname": postgres.host,
            "database.port": str(postgres.port),
            "database.user": postgres.user,
            "database.password": "",
            "database.dbname": "agold_src",
            "topic.prefix": dbz,
            "plugin.name": "pgoutput",
            "slot.name": f"dbzaslot{run}",
            "publication.name": "agoldpub",
            "publication.autocreate.mode": "disabled",
            "snapshot.mode": "initial",
            "decimal.handling.mode": "precise",
            "interval.handling.mode": "string",
            "provide.transaction.metadata": "true",
            "table.include.list": ",".join(f"public.{t}" for t in TABLES),
        }
        | converters,
    )
    try:
        source_url = postgres.dsn_for(postgres.user, None, "agold_src")
        args = ["run", "--source", source_url, "--slot", f"ataslot{run}"]
        args += ["--publication", "agoldpub", "--snapshot", "initial", "--idle-exit", "3"]
        args += ["--to", f"kafka://{kafka.bootstrap}?topic_prefix={mine}&format=avro"]
        args[-1] += f"&registry={registry.url}&transaction_metadata=true"
        args += ["--checkpoint", str(tmp_path / "cp.json")]
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 180
        differences = []
        for table in TABLES:
            for side in ("key", "value"):
                if table == "g_nokey" and side == "key":
                    continue
                subject = f"public.{table}-{side}"
                theirs = _renamed(
                    _latest(registry, f"{dbz}.{subject}", deadline, connect, name), dbz
                )
                ours = _renamed(
                    _latest(registry, f"{mine}.{subject}", deadline, connect, name), mine
                )
                if side == "key":
                    if ours != theirs:
                        differences.append(f"{table} key: {ours!r} != {theirs!r}")
                else:
                    differences += [f"{table} {d}" for d in _value_differences(ours, theirs)]
        allowed = {f"{table} Value.{column}:" for table, column in ALLOWED_COLUMNS}
        unused = {a for a in allowed if not any(d.startswith(a) for d in differences)}
        assert not unused, f"allowed differences that no longer occur: {sorted(unused)}"
        differences = [d for d in differences if not any(d.startswith(a) for a in allowed)]
        assert not differences, "\n".join(differences)
        # The added column's default was compared, not absent on both sides.
        ours = _latest(registry, f"{mine}.public.g_more-value", deadline, connect, name)
        added = next(f for f in ours["fields"][0]["type"][1]["fields"] if f["name"] == "added")
        assert added["default"] == "d", added
        # Debezium's own events went through the converter too.
        assert consume_until_quiet(kafka.bootstrap, f"{dbz}.public.g_types", quiet=1)
        # The values of the types Debezium reshapes (bit strings, hstore, point, the named
        # strings) read back from both sides' Avro alike.
        rows = {
            side: _snapshot_rows(kafka, registry, f"{side}.public.g_ext") for side in (mine, dbz)
        }
        assert sorted(rows[mine]) == sorted(rows[dbz]) == [1, 100]
        for key, ours in rows[mine].items():
            theirs = rows[dbz][key]
            differ = {c for c in ours if ours[c] != theirs.get(c)}
            assert differ <= set(AVRO_VALUES_ALLOWED), (
                key,
                {c: (ours[c], theirs.get(c)) for c in differ},
            )
        assert rows[mine][1]["pt"] == {
            "x": 1.5,
            "y": -2.0,
            "wkb": b"\x01\x01\x00\x00\x00" + struct.pack("<dd", 1.5, -2.0),
            "srid": None,
        }
        assert (rows[mine][1]["b1"], rows[mine][1]["b8"], rows[mine][1]["vb"]) == (
            True,
            b"\xa5",
            b"\x05",
        )
        _assert_same_transactions(src, args, kafka, registry, connect, name, (mine, dbz))
    finally:
        connect.remove_connector(name)
        for slot in (f"dbzaslot{run}", f"ataslot{run}"):
            drop_slot(postgres, "agold_src", slot, missing_ok=True)
        src.close()
