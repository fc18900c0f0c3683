"""Golden comparison with Debezium's own PostgreSQL and MariaDB connectors: Debezium (3.5, in a
real Kafka Connect worker) and arrowtail capture the same tables of one database, each through
its own slot or binlog connection, into topics of their own; every key, value, schema and
tombstone is then compared field by field. What may differ is listed in :data:`ALLOWED` and
:data:`MY_ALLOWED`, each entry with the reason docs/debezium.md gives; anything else fails the
test, and so does an allowed difference that no longer occurs (the list must not outlive the
difference).

Snapshot events are compared by key (both read the same rows, in their own order); streamed events
in order, per topic (the one partition of each topic keeps commit order).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

from tests.support.cli import cli
from tests.support.kafka_topics import consume_until_quiet
from tests.support.mysql_run import PASSWORD_ENV
from tests.support.pg_run import drop_slot, fresh_db

SCHEMA = """
CREATE TABLE g_types (
  id int PRIMARY KEY, i2 smallint, i8 bigint NOT NULL, r real, d double precision, b boolean,
  t text NOT NULL, vc varchar(20), c char(3), by bytea, dt date, tm time, tmz timetz,
  ts timestamp, tstz timestamptz, n numeric(10,2), u uuid, j json, jb jsonb
);
CREATE TABLE g_full (id int PRIMARY KEY, name text NOT NULL, note text);
ALTER TABLE g_full REPLICA IDENTITY FULL;
CREATE TABLE g_pair (a int, b text, v int, PRIMARY KEY (a, b));
CREATE TABLE g_nokey (x int NOT NULL, y text);
ALTER TABLE g_nokey REPLICA IDENTITY FULL;
CREATE TYPE g_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN g_pos AS int CHECK (VALUE > 0);
CREATE TABLE g_more (
  id int PRIMARY KEY, o oid, nu numeric, bp char(4), nm name, ch "char", iv interval,
  ia int[], ta text[], mo money, ip inet, ci cidr, rg int4range, dm g_pos, en g_mood,
  na numeric(8,2)[], da date[]
);
CREATE TABLE g_toast (id int PRIMARY KEY, big text, note text);
ALTER TABLE g_toast ALTER big SET STORAGE EXTERNAL;
CREATE TABLE g_toast_full (id int PRIMARY KEY, big text, note text);
ALTER TABLE g_toast_full ALTER big SET STORAGE EXTERNAL;
ALTER TABLE g_toast_full REPLICA IDENTITY FULL;
CREATE TABLE g_trunc (id int PRIMARY KEY, v text);
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE TABLE g_ext (id int PRIMARY KEY, ci citext, hs hstore, lt ltree, x xml, pt point,
  b1 bit(1), b8 bit(8), vb bit varying(16), tv tsvector, mac macaddr, m8 macaddr8, nr numrange,
  dr daterange, tr tstzrange, ua uuid[], jba jsonb[], vu bit varying, v1 bit varying(1),
  pt2 point, hsa hstore[], lta ltree[]);
CREATE TABLE g_geo (id int PRIMARY KEY, bx box, ls lseg, pa path, po polygon, ci circle,
  ln line, pp path);
CREATE TABLE g_prec (id int PRIMARY KEY, ts0 timestamp(0), ts3 timestamp(3), ts5 timestamp(5),
  tz0 timestamptz(0), tz3 timestamptz(3), tz5 timestamptz(5), tm0 time(0), tm3 time(3),
  tm5 time(5), ts3a timestamp(3)[], tz3a timestamptz(3)[], tm3a time(3)[]);
CREATE TABLE g_toast_types (id int PRIMARY KEY, by bytea, ta text[], va varchar[], ia int[],
  la bigint[], da date[], jb jsonb, ja jsonb[], hs hstore, na numeric[], note text);
ALTER TABLE g_toast_types ALTER by SET STORAGE EXTERNAL, ALTER ta SET STORAGE EXTERNAL,
  ALTER va SET STORAGE EXTERNAL, ALTER ia SET STORAGE EXTERNAL, ALTER la SET STORAGE EXTERNAL,
  ALTER da SET STORAGE EXTERNAL, ALTER jb SET STORAGE EXTERNAL, ALTER ja SET STORAGE EXTERNAL,
  ALTER hs SET STORAGE EXTERNAL, ALTER na SET STORAGE EXTERNAL;
"""

SEED = """
INSERT INTO g_types SELECT g, g::smallint, g * 1000000000000, g / 4.0, g / 3.0, g % 2 = 0,
    'text ' || g || ' ü', 'vc' || g, 'c' || (g % 10), decode(lpad(to_hex(g), 4, '0'), 'hex'),
    date '2024-02-29' + g, time '12:00:00.123456' + g * interval '1 minute',
    timetz '08:30:00.5+02', timestamp '2024-02-29 12:00:00.000100' + g * interval '1 hour',
    timestamptz '1999-12-31 23:59:59.999999+00' + g * interval '1 day', g * 1.25,
    md5(g::text)::uuid, json_build_object('g', g), jsonb_build_object('a', g, 'b', null)
    FROM generate_series(1, 12) g;
INSERT INTO g_types (id, i8, t) VALUES (100, -1, '');
INSERT INTO g_full SELECT g, 'f' || g, NULL FROM generate_series(1, 6) g;
INSERT INTO g_pair SELECT g % 3, 'b' || g, g FROM generate_series(1, 6) g;
INSERT INTO g_nokey SELECT g, 'y' || g FROM generate_series(1, 3) g;
INSERT INTO g_more SELECT g, g * 7, g / 7.0, 'b' || g, 'name' || g, chr(96 + g),
    make_interval(0, g, 0, g, 1, 2, 3.25), ARRAY[g, NULL, -g], ARRAY['x' || g, 'ü'],
    g * 1.5, ('10.0.0.' || g)::inet, '10.1.0.0/16', int4range(g, g * 10), g,
    (enum_range(NULL::g_mood))[1 + g % 3], ARRAY[g * 1.5, NULL, -g],
    ARRAY[date '2024-02-29' + g, NULL] FROM generate_series(1, 4) g;
INSERT INTO g_more (id) VALUES (100);
INSERT INTO g_toast SELECT g, repeat(md5(g::text), 200), 'n' FROM generate_series(1, 3) g;
INSERT INTO g_toast_full SELECT g, repeat(md5(g::text), 200), 'n' FROM generate_series(1, 3) g;
INSERT INTO g_trunc SELECT g, 'v' || g FROM generate_series(1, 3) g;
INSERT INTO g_ext VALUES (1, 'MiXed', 'a=>1, b=>NULL', 'top.mid', '<a>x</a>', '(1.5,-2)', B'1',
  B'10100101', B'101', 'fat cat', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', '[1.5,2.5)',
  '[2024-01-01,2024-02-01)', '[2024-01-01 00:00+00,)',
  ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid], ARRAY['{"a": 1}'::jsonb], B'0110', B'1',
  '(0.1,1e300)', ARRAY['x=>1, y=>NULL'::hstore, NULL], ARRAY['a.b'::ltree, 'c']);
INSERT INTO g_ext (id) VALUES (100);
INSERT INTO g_geo VALUES (1, '((1,2),(-3.5,4))', '[(0,0),(1,1.5)]', '((0,0),(1,1),(2,0))',
  '((0,0),(0,1),(1,1))', '<(1,2),3.5>', '{1,-1,0.5}', '[(0,0),(1e300,-1e-300)]');
INSERT INTO g_geo (id) VALUES (2);
INSERT INTO g_prec SELECT g, t, t, t, t, t, t, t::time, t::time, t::time, ARRAY[t, NULL],
  ARRAY[t::timestamptz], ARRAY[t::time, NULL]
  FROM (SELECT g, timestamp '2024-02-29 12:34:56.789012' + g * interval '1.5 second' AS t
        FROM generate_series(1, 3) g) s;
INSERT INTO g_prec (id) VALUES (100);
INSERT INTO g_toast_types SELECT 1, decode(repeat('ab', 3000), 'hex'),
  array(SELECT md5(g::text) FROM generate_series(1, 200) g),
  array(SELECT md5(g::text)::varchar FROM generate_series(1, 200) g),
  array(SELECT generate_series(1, 1000)),
  array(SELECT g * 1000000000000 FROM generate_series(1, 500) g),
  array(SELECT date '2024-01-01' + g FROM generate_series(1, 1000) g),
  (SELECT jsonb_object_agg('k' || g, md5(g::text)) FROM generate_series(1, 200) g),
  array(SELECT jsonb_build_object('g', md5(g::text)) FROM generate_series(1, 100) g),
  (SELECT hstore(array_agg('k' || g), array_agg(md5(g::text))) FROM generate_series(1, 200) g),
  array(SELECT g / 7.0 FROM generate_series(1, 500) g), 'n';
"""

WORKLOAD = [
    "UPDATE g_types SET vc = 'changed', n = -n, tstz = tstz + interval '1 second' WHERE id % 4 = 0",
    "UPDATE g_types SET u = NULL, j = NULL, by = NULL WHERE id = 5",
    "UPDATE g_types SET id = 1000 WHERE id = 7",
    "DELETE FROM g_types WHERE id = 9",
    "INSERT INTO g_types VALUES (2000, -1, 1, 'NaN', '-Infinity', NULL, 'late', NULL, NULL,"
    " '\\x00ff', '0001-01-01', '00:00:00', '23:59:59.999999-08', '2262-04-11 23:47:16.854775',"
    " '1970-01-01 00:00:00+00', 0.01, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '[1, 2]', '{}')",
    "UPDATE g_full SET note = 'full ' || id WHERE id % 2 = 0",
    "UPDATE g_full SET id = id + 100 WHERE id = 3",
    "DELETE FROM g_full WHERE id = 5",
    "UPDATE g_pair SET v = -v WHERE a = 1",
    "UPDATE g_pair SET b = b || '!' WHERE a = 2",
    "DELETE FROM g_pair WHERE a = 0",
    "UPDATE g_more SET iv = -iv, ia = '{}', ta = NULL, mo = mo * -1, en = 'happy' WHERE id = 2",
    "INSERT INTO g_more VALUES (200, 0, 'NaN', '', '', ' ', '-1 year -2 days 00:00:00.000001',"
    " '{7}', '{NULL}', 0, '::1', '2001:db8::/32', 'empty', 1, 'ok', '{}', '{1970-01-01}')",
    "UPDATE g_toast SET note = 'changed' WHERE id = 1",
    "UPDATE g_toast SET big = 'small', note = 'both' WHERE id = 2",
    "UPDATE g_toast_full SET note = 'changed' WHERE id = 1",
    "TRUNCATE g_trunc",
    "INSERT INTO g_trunc VALUES (4, 'after')",
    "ALTER TABLE g_more ADD COLUMN added text DEFAULT 'd'",
    "INSERT INTO g_more (id, added) VALUES (300, 'new')",
    "UPDATE g_more SET added = 'x' WHERE id = 1",
    "ALTER TABLE g_more DROP COLUMN ch",
    "INSERT INTO g_more (id) VALUES (400)",
    "UPDATE g_ext SET hs = hs || 'c=>3', pt = '(0,0)', vb = B'1111000011', b1 = B'0' WHERE id = 1",
    # PostgreSQL prints hstore keys by length, Debezium's JSON follows a Java HashMap: "bb"
    # before "a" (buckets 0 and 1). Bit strings of no set bit are no bytes.
    'INSERT INTO g_ext (id, hs, b8, vb, vu, pt) VALUES (3, \'a=>2, bb=>1, "k q"=>NULL, ü=>""\','
    " B'00000000', B'0', B'', '(-0.5,1e-300)')",
    # Every TOASTed column unchanged: each type's placeholder.
    "UPDATE g_toast_types SET note = 'changed' WHERE id = 1",
    "UPDATE g_geo SET bx = '((0,0),(1,1))', pa = '[(1,1),(2,2)]', ci = '<(0,0),1>' WHERE id = 1",
    # Declared fraction digits of timestamps and times (Debezium's adaptive precision).
    "UPDATE g_prec SET ts3 = ts3 + interval '1.5 ms', tz3 = tz3 + interval '1 ms',"
    " tm3 = tm3 + interval '1 ms', tz0 = tz0 + interval '1 s' WHERE id = 1",
    "INSERT INTO g_prec VALUES (200, '1970-01-01 00:00:00', '1969-12-31 23:59:59.999',"
    " '2262-01-01 00:00:00.12345', '1970-01-01 00:00:00+00', '1969-12-31 23:59:59.999+00',"
    " '2000-01-01 00:00:00.00001+00', '00:00:00', '23:59:59.999', '00:00:00.00001',"
    " '{1969-12-31 23:59:59.999}', '{NULL,1970-01-01 00:00:00.5+00}', '{23:59:59.999}')",
    # One transaction over three tables, tables interleaved: the transaction blocks' orders and
    # the END event's counts per table.
    "INSERT INTO g_pair VALUES (7, 'tx', 1); UPDATE g_full SET note = 'in tx' WHERE id = 1;"
    " INSERT INTO g_pair VALUES (8, 'tx', 2); DELETE FROM g_trunc WHERE id = 4;"
    " UPDATE g_pair SET v = 3 WHERE a = 7",
    # Last: once Debezium sent these, it sent everything before.
    "INSERT INTO g_nokey VALUES (4, NULL)",
    "UPDATE g_nokey SET y = 'yy' WHERE x = 1",
    "DELETE FROM g_nokey WHERE x = 2",
]

TABLES = [
    "g_types",
    "g_full",
    "g_pair",
    "g_nokey",
    "g_more",
    "g_toast",
    "g_toast_full",
    "g_trunc",
    "g_ext",
    "g_toast_types",
    "g_geo",
    "g_prec",
]

#: Differences allowed, as (regular expression over a difference's path, reason). A path reads
#: ``<phase>.<table>.<part>...`` with ``phase`` ``snapshot`` or ``stream`` and ``part`` ``key``,
#: ``value`` (payload) or ``value_schema`` / ``key_schema``.
KEYLESS_TOMBSTONE = "keyless tombstone"
#: Debezium's PostgreSQL connector reads the tables in its catalog order and each table in heap
#: order; arrowtail's parallel snapshot by name, several side by side, each in key order. So which
#: table holds ``first`` and ``last``, and which row of a table is its first and last, differ;
#: compared instead: each table's markers as a multiset (``first`` counted as
#: ``first_in_data_collection``, ``last`` as ``last_in_data_collection``) and one ``first`` and one
#: ``last`` on each side.
SNAPSHOT_ORDER = "postgres snapshot marker order"
#: Differences allowed, as (regular expression over a difference's path, reason; see
#: docs/debezium.md). A path reads ``<phase>.<table>.<part>...`` with ``phase`` ``snapshot`` or
#: ``stream`` and ``part`` ``key`` / ``value`` (payloads) or ``key_schema`` / ``value_schema``;
#: ``:attr`` names an attribute of a schema (``:optional``), ``.name`` a field.
ALLOWED: list[tuple[str, str]] = [
    (
        KEYLESS_TOMBSTONE,
        "a tombstone deletes by key in a compacted topic; with no key it deletes nothing, and a "
        "compacted topic refuses it",
    ),
    (
        SNAPSHOT_ORDER,
        "tables and rows are snapshotted in another order, so first and last rows differ",
    ),
    (r"\.value\.source\.version$", "each producer writes its own version"),
    (r"\.value\.ts_(ms|us|ns)$", "when the event was produced, not a fact of the change"),
    (r"\.value_schema\.source\.seq$", "arrowtail's deduplication ordinal in source"),
    (r"\.value\.source\.seq$", "arrowtail's deduplication ordinal in source"),
    (
        r"^snapshot\..*\.value\.source\.(ts_ms|ts_us|ts_ns|txId|lsn|sequence)$",
        "snapshot time and transaction are each reader's own",
    ),
    (
        r"\.value\.before\.",
        "a delete under REPLICA IDENTITY DEFAULT carries only the key; Debezium fills the other "
        "NOT NULL columns with type defaults",
    ),
    (
        r"\.value_schema\.before\.\w+:optional$",
        "arrowtail's before image has every column optional, as such deletes send nulls",
    ),
    (
        r"\.g_ext\.value(_schema)?\.(after|before)\.(hsa|lta)(\.|:|$)",
        "an array of an extension type (hstore[], ltree[]) is its PostgreSQL text; Debezium"
        " sends an array",
    ),
    (
        r"\.g_geo\.value(_schema)?\.(after|before)\.(bx|ls|pa|po|ci|ln|pp)(\.|:|$)",
        "Debezium 3.5 has no converter for box, lseg, path, polygon, circle and line and leaves"
        " such columns out of its events; arrowtail sends their PostgreSQL text",
    ),
    (
        r"^snapshot\.g_ext\.value\.after\.v1$",
        "Debezium's snapshot reads a bit varying(1) value as null; its stream and arrowtail send"
        " the boolean",
    ),
    (
        r"^stream\.(g_types|g_full|g_pair)\.value\.transaction\.total_order$",
        "a key-changing update is one change, and both its delete and create event carry its "
        "total_order; Debezium counts them as two",
    ),
    (
        r"^stream\..*\.value\.after\.nm$",
        "Debezium's PostgreSQL connector streams a `name` column as null; arrowtail sends the "
        "value, as both do in the snapshot",
    ),
]


def _events(kafka: Any, topic: str, prefix: str = "", quiet: float = 3.0) -> list[tuple[Any, Any]]:
    """``(key, value)`` JSON of every message of ``topic``, the producer's topic prefix in record
    names and ``source.name`` replaced by ``PREFIX``."""

    def load(raw: bytes | None) -> Any:
        if raw is None:
            return None
        text = raw.decode()
        if prefix:
            text = text.replace(f'"{prefix}.', '"PREFIX.').replace(f'"{prefix}"', '"PREFIX"')
        return json.loads(text)

    return [
        (load(m.key()), load(m.value()))
        for m in consume_until_quiet(kafka.bootstrap, topic, quiet=quiet)
    ]


def _wait_for_events(
    kafka: Any, connect: Any, connector: str, topic: str, count: int, deadline: float
) -> None:
    """Waits until ``topic`` holds ``count`` messages, failing when ``connector`` fails or at
    ``deadline`` (a ``time.monotonic()`` value)."""
    while len(_events(kafka, topic, quiet=1)) < count:
        connect.raise_if_failed(connector)
        assert time.monotonic() < deadline, connect.recent_log(40)
        time.sleep(1)


def _schema_fields(schema: dict[str, Any]) -> dict[str, Any]:
    return {f["field"]: f for f in schema.get("fields", [])}


def _diff(path: str, mine: Any, theirs: Any) -> Iterator[str]:
    """Paths where two JSON values differ (dicts by key, lists by position)."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for k in sorted(set(mine) | set(theirs)):
            if k not in mine or k not in theirs:
                yield f"{path}.{k}"
            else:
                yield from _diff(f"{path}.{k}", mine[k], theirs[k])
    elif isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            yield from _diff(f"{path}[{i}]", a, b)
    elif mine != theirs:
        yield path


def _schema_diff(path: str, mine: dict[str, Any], theirs: dict[str, Any]) -> Iterator[str]:
    """Differences of two Connect schemas: per field, type, optional, name, parameters and
    default (a column added with a value for the rows already there)."""
    for k in ("type", "optional", "name", "version", "parameters", "default"):
        if mine.get(k) != theirs.get(k):
            yield f"{path}:{k}"
    if "items" in mine or "items" in theirs:
        yield from _schema_diff(f"{path}.items", mine.get("items", {}), theirs.get("items", {}))
    a, b = _schema_fields(mine), _schema_fields(theirs)
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            yield f"{path}.{name}"
        else:
            yield from _schema_diff(f"{path}.{name}", a[name], b[name])


def _compare(phase: str, table: str, mine: tuple[Any, Any], theirs: tuple[Any, Any]) -> list[str]:
    out: list[str] = []
    base = f"{phase}.{table}"
    for part, i in (("key", 0), ("value", 1)):
        a, b = mine[i], theirs[i]
        if (a is None) != (b is None):
            out.append(f"{base}.{part}:{'absent' if a is None else 'present'}-in-arrowtail")
            continue
        if a is None:
            continue
        out += _schema_diff(f"{base}.{part}_schema", a["schema"], b["schema"])
        out += _diff(f"{base}.{part}", a["payload"], b["payload"])
    return out


def _key_of(event: tuple[Any, Any]) -> str:
    key, value = event
    if key is not None:
        return json.dumps(key["payload"], sort_keys=True)
    after = value["payload"]["after"] if value else None
    return json.dumps(after, sort_keys=True)


def _snapshot_markers_in_order(
    ours: dict[str, Any], theirs: dict[str, Any], table: str, ends: dict[str, list[str]]
) -> bool:
    """For :data:`SNAPSHOT_ORDER`: checks one table's snapshot markers on both sides as a
    multiset, collects each side's ``first`` and ``last`` in ``ends``, and sets every marker to
    ``true`` so that the event comparison skips them. True when a row's marker differed."""
    fold = {"first": "first_in_data_collection", "last": "last_in_data_collection"}
    marks: list[dict[str, str]] = []
    for side, events in (("arrowtail", ours), ("debezium", theirs)):
        found = {k: str(e[1]["payload"]["source"]["snapshot"]) for k, e in events.items()}
        ends[side] += [m for m in found.values() if m in fold]
        marks.append(found)
        for e in events.values():
            e[1]["payload"]["source"]["snapshot"] = "true"
    folded = [sorted(fold.get(m, m) for m in side.values()) for side in marks]
    assert folded[0] == folded[1], (table, folded)
    return any(marks[0][k] != marks[1][k] for k in marks[1])


def _is_snapshot(event: tuple[Any, Any]) -> bool:
    value = event[1]
    return value is not None and value["payload"]["op"] == "r"


def test_arrowtail_events_match_debeziums_postgres_connector(
    postgres: Any, kafka: Any, connect: Any, tmp_path: Path
) -> None:
    src = fresh_db(postgres, "gold_src")
    src.execute(SCHEMA)
    src.execute("CREATE PUBLICATION goldpub FOR ALL TABLES")
    src.execute(SEED)
    run = uuid.uuid4().hex[:8]
    dbz, mine = f"dbz{run}", f"at{run}"
    name = f"gold-{run}"
    connect.add_connector(
        name,
        {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "database.hostname": postgres.host,
            "database.port": str(postgres.port),
            "database.user": postgres.user,
            "database.password": "",
            "database.dbname": "gold_src",
            "topic.prefix": dbz,
            "plugin.name": "pgoutput",
            "slot.name": f"dbzslot{run}",
            "publication.name": "goldpub",
            "publication.autocreate.mode": "disabled",
            "snapshot.mode": "initial",
            "decimal.handling.mode": "precise",
            "skipped.operations": "none",
            "interval.handling.mode": "string",
            "provide.transaction.metadata": "true",
            "table.include.list": ",".join(f"public.{t}" for t in TABLES),
        },
    )
    try:
        source_url = postgres.dsn_for(postgres.user, None, "gold_src")
        args = ["run", "--source", source_url, "--slot", f"atslot{run}", "--publication", "goldpub"]
        args += ["--to", f"kafka://{kafka.bootstrap}?topic_prefix={mine}&schemas=true"]
        args[-1] += "&decimals=precise&transaction_metadata=true"
        args += ["--checkpoint", str(tmp_path / "cp.json")]
        first = cli(*args, "--snapshot", "initial", "--idle-exit", "3")
        assert first.returncode == 0, first.stderr
        # Debezium's snapshot must be done before the workload, so both see the same seed.
        deadline = time.monotonic() + 120
        _wait_for_events(kafka, connect, name, f"{dbz}.public.g_nokey", 3, deadline)
        for statement in WORKLOAD:
            src.execute(statement)
        second = cli(*args, "--idle-exit", "3")
        assert second.returncode == 0, second.stderr
        # The last statement touches g_nokey: once Debezium sent it, it sent everything before.
        _wait_for_events(kafka, connect, name, f"{dbz}.public.g_nokey", 7, deadline + 120)
        _assert_same_events(kafka, connect, name, (mine, dbz), "public", TABLES, ALLOWED)
        _assert_added_default(kafka, (mine, dbz), "public.g_more")
        _assert_same_transactions(
            kafka,
            (mine, dbz),
            [
                {"data_collection": "public.g_full", "event_count": 1},
                {"data_collection": "public.g_pair", "event_count": 3},
                {"data_collection": "public.g_trunc", "event_count": 1},
            ],
        )
    finally:
        connect.remove_connector(name)
        for slot in (f"dbzslot{run}", f"atslot{run}"):
            drop_slot(postgres, "gold_src", slot, missing_ok=True)
        src.close()


def _assert_same_events(
    kafka: Any,
    connect: Any,
    connector: str,
    prefixes: tuple[str, str],
    namespace: str,
    tables: list[str],
    allowed: list[tuple[str, str]],
) -> None:
    """Compares arrowtail's topics (first prefix) with Debezium's (second) for ``tables`` of
    ``namespace``; fails on a difference ``allowed`` does not list, and on an entry of
    ``allowed`` that no difference needed."""
    mine, dbz = prefixes
    problems: list[str] = []
    seen: set[str] = set()
    ends: dict[str, list[str]] = {"arrowtail": [], "debezium": []}
    for table in tables:
        theirs = _events(kafka, f"{dbz}.{namespace}.{table}", dbz)
        ours = _events(kafka, f"{mine}.{namespace}.{table}", mine)
        connect.raise_if_failed(connector)
        t_snap = {_key_of(e): e for e in theirs if _is_snapshot(e)}
        o_snap = {_key_of(e): e for e in ours if _is_snapshot(e)}
        assert sorted(o_snap) == sorted(t_snap), table
        if any(p == SNAPSHOT_ORDER for p, _ in allowed):
            if _snapshot_markers_in_order(o_snap, t_snap, table, ends):
                seen.add(SNAPSHOT_ORDER)
        diffs = [d for k in t_snap for d in _compare("snapshot", table, o_snap[k], t_snap[k])]
        t_stream = [e for e in theirs if not _is_snapshot(e)]
        if any(e == (None, None) for e in t_stream):
            # Debezium follows a keyless delete with a tombstone without a key.
            seen.add(KEYLESS_TOMBSTONE)
            t_stream = [e for e in t_stream if e != (None, None)]
        o_stream = [e for e in ours if not _is_snapshot(e)]
        shapes = [(e[0] is None, e[1] is None) for e in t_stream]
        assert [(e[0] is None, e[1] is None) for e in o_stream] == shapes, table
        for a, b in zip(o_stream, t_stream, strict=True):
            diffs += _compare("stream", table, a, b)
        for d in sorted(set(diffs)):
            match = next((p for p, _ in allowed if re.search(p, d)), None)
            if match is not None:
                seen.add(match)
                continue
            example = next(
                (a, b)
                for a, b in _pairs(o_snap, t_snap, o_stream, t_stream)
                if d in _compare(d.split(".")[0], table, a, b)
            )
            problems.append(f"{d}: arrowtail {_at(example[0], d)} / debezium {_at(example[1], d)}")
    assert not problems, "\n".join(problems)
    if any(p == SNAPSHOT_ORDER for p, _ in allowed):
        # Markers compared per table as a multiset: the snapshot's one first and one last row.
        for side, found in ends.items():
            assert sorted(found) == ["first", "last"], (side, found)
    unused = [p for p, _ in allowed if p not in seen]
    assert not unused, f"allowed differences that no longer occur: {unused}"


def _assert_same_transactions(
    kafka: Any,
    prefixes: tuple[str, str],
    collections: list[dict[str, Any]],
    *,
    begin_time: bool = True,
    statements: dict[str, list[dict[str, Any]] | None] | None = None,
) -> None:
    """Both transaction topics hold the same BEGIN and END events, in the same order: keys,
    values and schemas (the END's per-table counts as a set: Debezium lists them in hash
    order). ``collections``: the END's counts of the workload's transaction over several
    tables. ``begin_time`` false: a BEGIN's ``ts_ms`` is not compared (Debezium's MySQL and
    MariaDB connectors give the transaction's first event's time, arrowtail the commit's).

    ``statements``: DDL statements of the workload, which Debezium's MariaDB connector follows
    with a BEGIN and no END (they end with no commit event), by their place among the
    transactions (``"2"``: the third transaction of the stream); for each, arrowtail's END
    counts (a ``TRUNCATE``'s truncate event), or None where arrowtail writes nothing (an
    ``ALTER TABLE``, which has no event)."""

    def load(prefix: str) -> list[tuple[Any, Any]]:
        events = _events(kafka, f"{prefix}.transaction", prefix)
        for _, value in events:
            collections = value["payload"]["data_collections"]
            if collections is not None:
                collections.sort(key=lambda c: c["data_collection"])
        return events

    mine, theirs = (load(p) for p in prefixes)
    assert theirs, "Debezium wrote no transaction events"
    assert [v["payload"]["status"] for _, v in theirs].count("END") >= 15
    if statements is not None:
        # Debezium's BEGINs without an END are the DDL statements, each in its place.
        ended = {v["payload"]["id"] for _, v in theirs if v["payload"]["status"] == "END"}
        started = [v["payload"]["id"] for _, v in theirs if v["payload"]["status"] == "BEGIN"]
        lone = {str(i): tx for i, tx in enumerate(started) if tx not in ended}
        assert sorted(lone) == sorted(statements), (lone, started)
        for place, tx in lone.items():
            ours = [v["payload"] for _, v in mine if v["payload"]["id"] == tx]
            counts = statements[place]
            if counts is None:
                assert ours == [], ours
            else:
                assert [o["status"] for o in ours] == ["BEGIN", "END"], ours
                assert ours[1]["data_collections"] == counts, ours
        theirs = [(k, v) for k, v in theirs if v["payload"]["id"] not in lone.values()]
        mine = [(k, v) for k, v in mine if v["payload"]["id"] not in lone.values()]

    def brief(events: list[tuple[Any, Any]]) -> list[str]:
        return [f"{v['payload']['status']} {v['payload']['id']}" for _, v in events]

    assert brief(mine) == brief(theirs), "\n".join(
        f"{a!s:<24} {b}" for a, b in zip_longest(brief(mine), brief(theirs))
    )
    for (ka, a), (kb, b) in zip(mine, theirs, strict=True):
        if not begin_time and a["payload"]["status"] == "BEGIN":
            a["payload"].pop("ts_ms")
            b["payload"].pop("ts_ms")
        assert (ka, a) == (kb, b), (a["payload"], b["payload"])
    # The transaction over several tables, with its counts.
    (end,) = [
        v["payload"]
        for _, v in mine
        if v["payload"]["status"] == "END"
        and len(v["payload"]["data_collections"]) == len(collections)
        and v["payload"]["event_count"] == sum(c["event_count"] for c in collections)
    ]
    assert end["data_collections"] == collections


def _assert_added_default(kafka: Any, prefixes: tuple[str, str], table: str) -> None:
    """Both producers declare the column ``added`` (added with ``DEFAULT 'd'``) with that
    default in every event that has it, so the schemas' defaults compared above are not all
    absent."""
    for prefix in prefixes:
        declared = set()
        for _, value in _events(kafka, f"{prefix}.{table}", prefix):
            if value is None:
                continue
            after = _schema_fields(value["schema"])["after"]
            added = _schema_fields(after).get("added")
            if added is not None:
                declared.add(added.get("default"))
        assert declared == {"d"}, (prefix, declared)


def _pairs(
    o_snap: dict[str, Any],
    t_snap: dict[str, Any],
    o_stream: list[Any],
    t_stream: list[Any],
) -> Iterator[tuple[Any, Any]]:
    for k in t_snap:
        yield o_snap[k], t_snap[k]
    yield from zip(o_stream, t_stream, strict=True)


def _at(event: tuple[Any, Any], path: str) -> str:
    """The value at ``path`` of one event, for the failure message."""
    path, _, attr = path.partition(":")
    parts = path.split(".")[2:]
    if not parts:
        return "?"
    head = parts[0]
    message = event[0] if head.startswith("key") else event[1]
    if message is None:
        return "absent"
    node: Any = message["schema"] if head.endswith("_schema") else message["payload"]
    for p in parts[1:]:
        if head.endswith("_schema") and isinstance(node, dict):
            node = _schema_fields(node).get(p)
        elif isinstance(node, dict):
            node = node.get(p, "<absent>")
        else:
            break
    if attr and isinstance(node, dict):
        node = node.get(attr)
    return json.dumps(node)[:300]


MY_SCHEMA = [
    "CREATE TABLE m_types (id int PRIMARY KEY, ti tinyint, si smallint, mi mediumint,"
    " bi bigint NOT NULL, bu bigint unsigned, f float, d double, n decimal(10,2),"
    " vc varchar(20) NOT NULL, c char(3), t text, bl blob, vb varbinary(8), dt date,"
    " tm time(6), dtm datetime(6), ts timestamp(6) NULL, y year, e enum('a','b','c'),"
    " s set('x','y','z'), bt bit(5), j json, u uuid)",
    "CREATE TABLE m_pair (a int, b varchar(10), v int NOT NULL, PRIMARY KEY (a, b))",
    "CREATE TABLE m_nokey (x int NOT NULL, y varchar(10))",
    "CREATE TABLE m_trunc (id int PRIMARY KEY, v varchar(10))",
    "CREATE TABLE m_more (id int PRIMARY KEY, tu tinyint unsigned, su smallint unsigned,"
    " mu mediumint unsigned, mi mediumint, iu int unsigned, bn binary(4), tt tinytext,"
    " mt mediumtext, lb longblob, ts0 timestamp NULL, dt0 datetime, tm0 time, fl float(7,3),"
    " bt1 bit(1), bt64 bit(64), y4 year(4))",
    "CREATE TABLE m_geo (id int PRIMARY KEY, g geometry, p point, ls linestring, po polygon,"
    " mp multipoint, gc geometrycollection)",
]
MY_SEED = [
    "INSERT INTO m_types SELECT seq, CAST(seq AS SIGNED) - 5, seq * 100, seq * 10000,"
    " seq * 1000000000000, 18446744073709551615 - seq, seq / 4, seq / 3, seq * 1.25,"
    " CONCAT('vc', seq), 'c',"
    " CONCAT('text ', seq, ' ü'), UNHEX(LPAD(HEX(seq), 4, '0')), UNHEX('00ff'),"
    " DATE '2024-02-29' + INTERVAL seq DAY, SEC_TO_TIME(seq * 61.5),"
    " TIMESTAMP '2024-02-29 12:00:00.000100' + INTERVAL seq HOUR,"
    " TIMESTAMP '2001-02-03 04:05:06.5' + INTERVAL seq DAY, 2000 + seq, 'b', 'x,z', seq,"
    " JSON_OBJECT('g', seq), UUID() FROM seq_1_to_12",
    "INSERT INTO m_types (id, bi, vc) VALUES (100, -1, '')",
    "INSERT INTO m_pair SELECT seq % 3, CONCAT('b', seq), seq FROM seq_1_to_6",
    "INSERT INTO m_nokey SELECT seq, CONCAT('y', seq) FROM seq_1_to_3",
    "INSERT INTO m_more SELECT seq, 250 + seq, 65530 + seq, 16777210 + seq,"
    " -8388600 - CAST(seq AS SIGNED), 4294967290 + seq, UNHEX(REPEAT(HEX(seq), 2)),"
    " CONCAT('tt', seq), REPEAT('m', seq),"
    " UNHEX('0001ff'), TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq SECOND,"
    " TIMESTAMP '2020-01-01 10:00:00' + INTERVAL seq MINUTE, SEC_TO_TIME(seq * 3600),"
    " seq / 8, seq % 2, 18446744073709551615 - seq, 2000 + seq"
    " FROM seq_1_to_4",
    "INSERT INTO m_more (id) VALUES (100)",
    "INSERT INTO m_trunc SELECT seq, CONCAT('v', seq) FROM seq_1_to_3",
    "INSERT INTO m_geo VALUES (1, ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('POINT(1.5 -2)'),"
    " ST_GeomFromText('LINESTRING(0 0, 1 1.5)'),"
    " ST_GeomFromText('POLYGON((0 0, 0 1, 1 1, 0 0))'), ST_GeomFromText('MULTIPOINT(1 1, 2 2)'),"
    " ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1))'))",
    "INSERT INTO m_geo VALUES (2, ST_GeomFromText('POINT(3 4)', 4326),"
    " ST_GeomFromText('POINT(0 0)', 4326), NULL, NULL, NULL, NULL)",
    "INSERT INTO m_geo (id) VALUES (100)",
]
MY_WORKLOAD = [
    "UPDATE m_types SET vc = 'changed', n = -n, dtm = dtm + INTERVAL 1 SECOND WHERE id % 4 = 0",
    "UPDATE m_types SET u = NULL, j = NULL, bl = NULL WHERE id = 5",
    "UPDATE m_types SET id = 1000 WHERE id = 7",
    "DELETE FROM m_types WHERE id = 9",
    "INSERT INTO m_types VALUES (2000, -128, -32768, -8388608, -1, 0, -1.5, 1e300, 0.01, 'late',"
    " NULL, NULL, '', NULL, '1000-01-01', '-838:59:59', '9999-12-31 23:59:59.999999',"
    " '1970-01-01 00:00:01', 1901, 'c', '', b'10101', '[1, 2]',"
    " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
    "UPDATE m_pair SET v = -v WHERE a = 1",
    "UPDATE m_pair SET b = CONCAT(b, '!') WHERE a = 2",
    "DELETE FROM m_pair WHERE a = 0",
    "UPDATE m_more SET tu = 0, mu = 0, iu = 0, ts0 = '2038-01-19 03:14:07' WHERE id = 2",
    "INSERT INTO m_more VALUES (200, 255, 65535, 16777215, -8388608, 4294967295, 'ab', '', '',"
    " '', '1970-01-01 00:00:01', '1000-01-01 00:00:00', '-00:00:01', -1.5, 1, 0, 2155)",
    "ALTER TABLE m_more ADD COLUMN added varchar(10) DEFAULT 'd'",
    "INSERT INTO m_more (id, added) VALUES (300, 'new')",
    "UPDATE m_more SET added = 'x' WHERE id = 1",
    "ALTER TABLE m_more DROP COLUMN tt",
    "INSERT INTO m_more (id) VALUES (400)",
    "TRUNCATE m_trunc",
    "INSERT INTO m_trunc VALUES (4, 'after')",
    "UPDATE m_geo SET g = ST_GeomFromText('LINESTRING(1 1, 2 2)'),"
    " p = ST_GeomFromText('POINT(-0.5 1e-300)') WHERE id = 1",
    "INSERT INTO m_geo (id, p) VALUES (3, ST_GeomFromText('POINT(7 8)', 3857))",
    # One transaction over two tables, tables interleaved (as in the PostgreSQL workload).
    "BEGIN",
    "INSERT INTO m_pair VALUES (7, 'tx', 1)",
    "UPDATE m_trunc SET v = 'in tx' WHERE id = 4",
    "INSERT INTO m_pair VALUES (8, 'tx', 2)",
    "UPDATE m_pair SET v = 3 WHERE a = 7",
    "COMMIT",
    "INSERT INTO m_nokey VALUES (4, NULL)",
    "UPDATE m_nokey SET y = 'yy' WHERE x = 1",
    "DELETE FROM m_nokey WHERE x = 2",
]
MY_TABLES = ["m_types", "m_pair", "m_nokey", "m_more", "m_trunc", "m_geo"]

#: As :data:`ALLOWED`, for Debezium's MariaDB connector.
MY_ALLOWED: list[tuple[str, str]] = [
    (
        KEYLESS_TOMBSTONE,
        "a tombstone deletes by key in a compacted topic; with no key it deletes nothing, and a "
        "compacted topic refuses it",
    ),
    (r"\.value\.source\.version$", "each producer writes its own version"),
    (r"\.value\.ts_(ms|us|ns)$", "when the event was produced, not a fact of the change"),
    (r"\.value_schema\.source\.seq$", "arrowtail's deduplication ordinal in source"),
    (r"\.value\.source\.seq$", "arrowtail's deduplication ordinal in source"),
    (
        r"^snapshot\..*\.value\.source\.(ts_ms|ts_us|ts_ns|file|pos|row|server_id)$",
        "snapshot time and binlog coordinates are each reader's own",
    ),
    (
        r"^stream\..*\.value\.source\.pos$",
        "arrowtail names the commit event's offset; Debezium the transaction's start",
    ),
    (
        r"^stream\.(m_pair|m_trunc)\.value\.source\.row$",
        "arrowtail's row is the change's place in its transaction (_seq), Debezium's its place in"
        " its binlog rows event; they differ from a transaction's second statement on",
    ),
    (
        r"^stream\.(m_types|m_pair)\.value\.transaction\.total_order$",
        "a key-changing update is one change, and both its delete and create event carry its "
        "total_order; Debezium counts them as two",
    ),
    (
        r"\.value\.(after|before)\.bu$",
        "BIGINT UNSIGNED above 2^63: arrowtail writes the value, Debezium's default "
        "bigint.unsigned.handling.mode=long wraps it below zero",
    ),
    (
        r"\.value_schema\.before\.\w+:optional$",
        "arrowtail's before image has every column optional",
    ),
]


def test_arrowtail_events_match_debeziums_mariadb_connector(
    mariadb: Any, kafka: Any, connect: Any, tmp_path: Path
) -> None:
    db = "gold_my"
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"USE {db}")
        for statement in MY_SCHEMA + MY_SEED:
            cur.execute(statement)
    mariadb.grant_capture(db)
    run = uuid.uuid4().hex[:8]
    dbz, mine = f"dbz{run}", f"at{run}"
    name = f"gold-my-{run}"
    connect.add_connector(
        name,
        {
            "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
            "tasks.max": "1",
            "database.hostname": mariadb.host,
            "database.port": str(mariadb.port),
            "database.user": mariadb.user,
            "database.password": mariadb.password,
            "database.server.id": str(5400 + int(run[:3], 16) % 500),
            "database.ssl.mode": "disable",
            "topic.prefix": dbz,
            "database.include.list": db,
            "schema.history.internal": "io.debezium.storage.file.history.FileSchemaHistory",
            "schema.history.internal.file.filename": str(tmp_path / "dbz-history.dat"),
            # Only this database's tables: other tests' databases may hold types (INET6) that
            # Debezium's DDL parser refuses.
            "schema.history.internal.store.only.captured.databases.ddl": "true",
            "schema.history.internal.store.only.captured.tables.ddl": "true",
            "snapshot.mode": "initial",
            "decimal.handling.mode": "precise",
            "skipped.operations": "none",
            "provide.transaction.metadata": "true",
        },
    )
    try:
        env = dict(os.environ, **{PASSWORD_ENV: mariadb.capture_password})
        args = ["run", "--source", mariadb.capture_url + db, "--password-env", PASSWORD_ENV]
        args += ["--to", f"kafka://{kafka.bootstrap}?topic_prefix={mine}&schemas=true"]
        args[-1] += "&decimals=precise&transaction_metadata=true"
        args += ["--checkpoint", str(tmp_path / "cp.json"), "--server-id", "7491"]
        first = cli(*args, "--snapshot", "initial", "--idle-exit", "3", env=env)
        assert first.returncode == 0, first.stderr
        deadline = time.monotonic() + 120
        _wait_for_events(kafka, connect, name, f"{dbz}.{db}.m_nokey", 3, deadline)
        with conn.cursor() as cur:
            for statement in MY_WORKLOAD:
                cur.execute(statement)
        second = cli(*args, "--idle-exit", "3", env=env)
        assert second.returncode == 0, second.stderr
        _wait_for_events(kafka, connect, name, f"{dbz}.{db}.m_nokey", 7, deadline + 120)
        _assert_same_events(kafka, connect, name, (mine, dbz), db, MY_TABLES, MY_ALLOWED)
        _assert_added_default(kafka, (mine, dbz), f"{db}.m_more")
        _assert_same_transactions(
            kafka,
            (mine, dbz),
            [
                {"data_collection": f"{db}.m_pair", "event_count": 3},
                {"data_collection": f"{db}.m_trunc", "event_count": 1},
            ],
            begin_time=False,
            statements={
                # ALTER TABLE ... ADD COLUMN, ALTER TABLE ... DROP COLUMN, TRUNCATE.
                "10": None,
                "13": None,
                "15": [{"data_collection": f"{db}.m_trunc", "event_count": 1}],
            },
        )
    finally:
        connect.remove_connector(name)
        conn.close()
