"""The Avro format of the Kafka sink without a broker or registry: the core's Avro messages,
decoded with an Avro library (fastavro) by the schemas the core gives, carry the same events as
the Debezium JSON path; schema names and types follow Kafka Connect's Avro mapping; the sink's
options and the words of a refusal."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
import uuid

import fastavro
import pyarrow as pa
import pytest

from arrowtail import _core
from arrowtail.exceptions import ConfigError
from arrowtail.sinks import open_sink
from arrowtail.sinks.kafka.avro import column_changes
from arrowtail.sinks.kafka.registry import subject_name
from tests.support.avro_events import as_json, decode, framed_id
from tests.support.batches import SIMPLE_COLUMNS, change_batch
from tests.support.kafka_reference import java_partition

TYPES = [
    pa.field("id", pa.int32()),
    pa.field("flag", pa.bool_()),
    pa.field("small", pa.int16()),
    pa.field("big", pa.int64()),
    pa.field("ubig", pa.uint64()),
    pa.field("real", pa.float32()),
    pa.field("dbl", pa.float64()),
    pa.field("num", pa.decimal128(10, 3)),
    pa.field("txt", pa.string()),
    pa.field("raw", pa.binary()),
    pa.field("uid", pa.uuid()),
    pa.field("day", pa.date32()),
    pa.field("ts", pa.timestamp("us")),
    pa.field("tstz", pa.timestamp("us", tz="UTC")),
    pa.field("tod", pa.time64("us")),
    pa.field("dur", pa.duration("us")),
    pa.field("iv", pa.month_day_nano_interval()),
    pa.field("arr", pa.list_(pa.string())),
    pa.field("nums", pa.list_(pa.int64())),
    pa.field("doc", pa.json_()),
]

FULL_ROW = {
    "id": 1,
    "flag": True,
    "small": -3,
    "big": -(2**63),
    "ubig": 2**63 - 1,
    "real": 0.5,
    "dbl": float("nan"),
    "num": decimal.Decimal("-1234.500"),
    "txt": 'quote " and \n é',
    "raw": b"\x00\xff",
    "uid": uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").bytes,
    "day": dt.date(2024, 2, 29),
    "ts": dt.datetime(2024, 2, 29, 12, 0, 0, 5),
    "tstz": dt.datetime(2024, 2, 29, 12, 0, 0, 500000, tzinfo=dt.timezone.utc),
    "tod": dt.time(13, 14, 15, 16),
    "dur": dt.timedelta(hours=-838),
    "iv": pa.MonthDayNano([13, -2, 1_500_000_000]),
    "arr": ["a", None],
    "nums": [],
    "doc": '{"k": [1, 2]}',
}


def rows() -> list[dict]:
    """A snapshot read, an insert of NULLs, an update with its old image, a key change, a
    delete, a truncate."""
    return [
        {**FULL_ROW, "_op": "r", "_pos": 10, "_xid": 0},
        {"id": 2, "_op": "c", "_pos": 20},
        {
            **FULL_ROW,
            "txt": "new",
            "_op": "u",
            "_pos": 30,
            "_before": {**FULL_ROW},
        },
        {**FULL_ROW, "id": 5, "_op": "u", "_pos": 40, "_before": {"id": 1}},
        {"id": 2, "_op": "d", "_pos": 50},
        {"_op": "t", "_pos": 60},
    ]


def both(batch: pa.RecordBatch, **options: object) -> tuple[list, list, tuple]:
    """The JSON path's (key, value) pairs and the Avro path's, decoded and in JSON forms."""
    opts = {"topic_prefix": "srv", "decimals": "precise", "ts_ms": 7, **options}
    jkeys, jvalues, jrows, jparts = _core.DebeziumSerializer(**opts).serialize(batch, partitions=3)
    avro = _core.AvroSerializer(**opts)
    key_schema, value_schema, key_name, value_name = avro.schemas(batch)
    akeys, avalues, arows, aparts = avro.serialize(
        batch, key_schema_id=11, value_schema_id=12, partitions=3
    )
    assert arows.to_pylist() == jrows.to_pylist()
    assert aparts.to_pylist() == [
        0 if k is None else java_partition(k, 3) for k in akeys.to_pylist()
    ]
    json_pairs = [
        (None if k is None else json.loads(k), None if v is None else json.loads(v))
        for k, v in zip(jkeys.to_pylist(), jvalues.to_pylist(), strict=True)
    ]
    avro_pairs = []
    for k, v in zip(akeys.to_pylist(), avalues.to_pylist(), strict=True):
        if k is not None:
            assert framed_id(k) == 11
        if v is not None:
            assert framed_id(v) == 12
        avro_pairs.append(
            (
                None if k is None else as_json(decode(k, key_schema)),
                None if v is None else as_json(decode(v, value_schema)),
            )
        )
    return json_pairs, avro_pairs, (key_schema, value_schema, key_name, value_name)


def test_avro_events_carry_what_the_json_events_carry() -> None:
    batch = change_batch(TYPES, rows())
    json_pairs, avro_pairs, _ = both(batch)
    assert len(avro_pairs) == len(json_pairs) == 9  # the key change and delete add 3
    assert avro_pairs == json_pairs
    first = avro_pairs[0][1]["after"]
    assert first["tstz"] == "2024-02-29T12:00:00.500000Z"
    assert first["uid"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert first["dbl"] == "NaN" and first["ubig"] == 2**63 - 1
    assert [p[1] is None for p in avro_pairs] == [False] * 4 + [True, False, False, True, False]


def _logical(name: str, kind: str, **more: str) -> pa.Field:
    meta = {"arrowtail.logical_type": kind, **{f"arrowtail.{k}": v for k, v in more.items()}}
    return pa.field(name, pa.string(), metadata=meta)


#: PostgreSQL columns carried as text that Debezium reshapes (keys.py names them).
PG_TEXT_TYPES = [
    pa.field("id", pa.int32()),
    _logical("b1", "bit", length="1"),
    _logical("b8", "bit", length="8"),
    _logical("vb", "bit"),
    _logical("hs", "hstore"),
    _logical("pt", "point"),
    _logical("pt2", "point"),
    _logical("x", "xml"),
    pa.field("ja", pa.list_(pa.string()), metadata={"arrowtail.logical_type": "json"}),
]


def test_postgres_text_types_are_reshaped_alike_in_both_formats() -> None:
    row = {
        "id": 1,
        "b1": "1",
        "b8": "00000001",
        "vb": "1111000011",
        "hs": '"a"=>"2", "bb"=>NULL',
        "pt": "(1.5,-2)",
        "pt2": "(-Infinity,0)",
        "x": "<a/>",
        "ja": ['{"k": 1}', None],
    }
    batch = change_batch(
        PG_TEXT_TYPES,
        [
            {**row, "_op": "r", "_pos": 10},
            {"id": 2, "_op": "c", "_pos": 20},
            {**row, "b8": "00000000", "_op": "u", "_pos": 30, "_unchanged": ["hs", "x"]},
        ],
    )
    json_pairs, avro_pairs, (_, value_schema, _, _) = both(batch)
    assert avro_pairs == json_pairs
    first = avro_pairs[0][1]["after"]
    assert (first["b1"], first["b8"], first["vb"]) == (True, "AQ==", "wwM=")
    assert first["hs"] == '{"bb":null,"a":"2"}'
    assert first["pt"] == {"x": 1.5, "y": -2.0, "wkb": "AQEAAAAAAAAAAAD4PwAAAAAAAADA", "srid": None}
    assert first["pt2"]["x"] == "-Infinity"
    assert avro_pairs[1][1]["after"]["pt"] is None
    unsent = avro_pairs[2][1]["after"]
    placeholder = "__debezium_unavailable_value"
    assert (unsent["b8"], unsent["x"]) == ("", placeholder)
    assert json.loads(unsent["hs"]) == {placeholder: placeholder}
    # The second point column names the record the first defines.
    columns = json.loads(value_schema)["fields"][0]["type"][1]["fields"]
    types = {c["name"]: c["type"][1] for c in columns}
    assert types["pt"]["name"] == "Point" and types["pt2"] == "io.debezium.data.geometry.Point"
    assert types["vb"]["connect.parameters"] == {"length": "2147483647"}


def test_mysql_events_and_string_decimals_match_too() -> None:
    columns = [pa.field("id", pa.int64()), pa.field("price", pa.decimal128(8, 2))]
    batch = change_batch(
        columns,
        [
            {"id": 1, "price": decimal.Decimal("9.99"), "_op": "c", "_pos": (3 << 32) | 400},
            {"id": 1, "_op": "d", "_pos": (3 << 32) | 500},
        ],
        source="mysql",
        table="shop.items",
    )
    for decimals in ("precise", "string", "double"):
        json_pairs, avro_pairs, _ = both(batch, decimals=decimals, server_id=42)
        assert avro_pairs == json_pairs, decimals
    source = avro_pairs[0][1]["source"]
    assert (source["file"], source["pos"], source["server_id"]) == ("mysql-bin.000003", 400, 42)


def test_schemas_are_kafka_connect_avro() -> None:
    batch = change_batch(TYPES, rows()[:1], table="public.order-lines")
    _, _, (key_schema, value_schema, key_name, value_name) = both(batch)
    assert (key_name, value_name) == (
        "srv.public.order_lines.Key",
        "srv.public.order_lines.Envelope",
    )
    key = json.loads(key_schema)
    assert key == {
        "type": "record",
        "name": "Key",
        "namespace": "srv.public.order_lines",
        "fields": [{"name": "id", "type": "int"}],
        "connect.name": "srv.public.order-lines.Key",
    }
    envelope = json.loads(value_schema)
    assert envelope["name"] == "Envelope" and envelope["connect.version"] == 2
    assert [f["name"] for f in envelope["fields"]] == [
        "before",
        "after",
        "source",
        "transaction",
        "op",
        "ts_ms",
        "ts_us",
        "ts_ns",
    ]
    value = envelope["fields"][0]["type"][1]
    assert (value["name"], value["namespace"]) == ("Value", "srv.public.order_lines")
    assert envelope["fields"][1]["type"] == ["null", "srv.public.order_lines.Value"]
    types = {f["name"]: f["type"][1] for f in value["fields"]}
    assert types["small"] == {"type": "int", "connect.type": "int16"}
    assert types["num"] == {
        "type": "bytes",
        "scale": 3,
        "precision": 10,
        "connect.version": 1,
        "connect.parameters": {"scale": "3", "connect.decimal.precision": "10"},
        "connect.name": "org.apache.kafka.connect.data.Decimal",
        "logicalType": "decimal",
    }
    assert types["ts"] == {
        "type": "long",
        "connect.version": 1,
        "connect.name": "io.debezium.time.MicroTimestamp",
    }
    assert types["uid"]["connect.name"] == "io.debezium.data.Uuid"
    assert types["doc"]["connect.name"] == "io.debezium.data.Json"
    assert types["arr"] == {"type": "array", "items": ["null", "string"]}
    source = envelope["fields"][2]["type"]
    assert (source["name"], source["namespace"]) == ("Source", "io.debezium.connector.postgresql")
    snapshot = next(f for f in source["fields"] if f["name"] == "snapshot")
    assert snapshot["default"] == "false" and snapshot["type"][1] == "null"


@pytest.mark.parametrize("defaults", [False, True], ids=["plain", "with-defaults"])
def test_unsent_values_are_the_placeholder_where_avro_can_hold_it(defaults: bool) -> None:
    # With defaults (missing values) the unions are [T, "null"]: the branches swap.
    meta = {"arrowtail.missing_value": "7"} if defaults else None
    columns = [
        pa.field("id", pa.int64()),
        pa.field("txt", pa.string(), metadata=meta),
        pa.field("n", pa.int32(), metadata=meta),
    ]
    batch = change_batch(columns, [{"id": 1, "_op": "u", "_pos": 5, "_unchanged": ["txt", "n"]}])
    _, avro_pairs, _ = both(batch)
    assert avro_pairs[0][1]["after"] == {"id": 1, "txt": "__debezium_unavailable_value", "n": None}
    _, omitted, _ = both(batch, unavailable="omit")
    assert omitted[0][1]["after"] == {"id": 1, "txt": None, "n": None}


def test_unsent_values_take_the_placeholder_form_of_their_type() -> None:
    # Debezium's PostgreSQL connector: bytes of the string, a JSON object of it in hstore, a
    # list of the string in an array of text, its bytes as numbers in an array of int4, int8 or
    # date; null where no form fits (an array of other types carried as text, numeric here).
    text = {"arrowtail.logical_type": "text"}
    columns = [
        pa.field("id", pa.int64()),
        pa.field("raw", pa.binary()),
        _logical("hs", "hstore"),
        pa.field("texts", pa.list_(pa.string()), metadata=text),
        pa.field("numerics", pa.list_(pa.string())),
        pa.field("ints", pa.list_(pa.int32())),
        pa.field("bigs", pa.list_(pa.int64())),
        pa.field("days", pa.list_(pa.date32())),
        pa.field("flags", pa.list_(pa.bool_())),
        pa.field("doc", pa.json_()),
    ]
    unsent = [c.name for c in columns[1:]]
    batch = change_batch(columns, [{"id": 1, "_op": "u", "_pos": 5, "_unchanged": unsent}])
    json_pairs, avro_pairs, _ = both(batch)
    assert avro_pairs == json_pairs
    placeholder = "__debezium_unavailable_value"
    numbers = list(placeholder.encode())
    assert json_pairs[0][1]["after"] == {
        "id": 1,
        "raw": base64.b64encode(placeholder.encode()).decode(),
        "hs": json.dumps({placeholder: placeholder}, separators=(",", ":")),
        "texts": [placeholder],
        "numerics": None,
        "ints": numbers,
        "bigs": numbers,
        "days": numbers,
        "flags": None,
        "doc": placeholder,
    }
    # A MySQL/MariaDB partial row image leaves columns out: the string says which, whatever
    # the type (Debezium's MySQL connectors have no placeholder), and Avro where it can.
    mysql = change_batch(
        columns[:3],
        [{"id": 1, "_op": "u", "_pos": 5, "_unchanged": ["raw", "hs"]}],
        source="mysql",
        table="shop.t",
    )
    json_pairs, avro_pairs, _ = both(mysql)
    assert json_pairs[0][1]["after"] == {"id": 1, "raw": placeholder, "hs": placeholder}
    assert avro_pairs[0][1]["after"]["raw"] == base64.b64encode(placeholder.encode()).decode()


def test_keyless_tables_have_no_key_schema_and_keys_need_their_id() -> None:
    batch = change_batch(SIMPLE_COLUMNS, [{"id": 1, "name": "a", "_op": "c", "_pos": 1}])
    nokey = change_batch(
        SIMPLE_COLUMNS, [{"id": 1, "name": "a", "_op": "c", "_pos": 1}], primary_key=()
    )
    serializer = _core.AvroSerializer()
    key_schema, _, _, _ = serializer.schemas(nokey)
    assert key_schema is None
    keys, values, _, _ = serializer.serialize(nokey, value_schema_id=3)
    assert keys.to_pylist() == [None] and framed_id(values[0].as_py()) == 3
    with pytest.raises(ConfigError, match="key schema id"):
        serializer.serialize(batch, value_schema_id=3)


def test_subject_names_follow_the_strategy() -> None:
    assert subject_name("topic", "p.public.t", "p.public.t.Key", key=True) == "p.public.t-key"
    assert subject_name("topic", "p.public.t", "x", key=False) == "p.public.t-value"
    assert subject_name("record", "p.public.t", "p.public.t.Envelope", key=False) == (
        "p.public.t.Envelope"
    )
    assert subject_name("topic_record", "tp", "p.public.t.Key", key=True) == "tp-p.public.t.Key"


def test_a_refusal_names_the_columns_that_changed() -> None:
    old = change_batch(
        [pa.field("id", pa.int64()), pa.field("n", pa.int32()), pa.field("gone", pa.bool_())],
        [{"id": 1, "_op": "c", "_pos": 1}],
    )
    new = change_batch(
        [pa.field("id", pa.int64()), pa.field("n", pa.string()), pa.field("d", pa.date32())],
        [{"id": 1, "_op": "c", "_pos": 1}],
    )
    serializer = _core.AvroSerializer()
    old_value = serializer.schemas(old)[1]
    new_value = serializer.schemas(new)[1]
    assert column_changes(old_value, new_value) == [
        "column n: int -> string",
        "column d added (int (io.debezium.time.Date))",
        "column gone removed",
    ]
    assert column_changes(old_value, old_value) == []
    # A default a column gains (its missing value) is no change of type.
    defaulted = change_batch(
        [
            pa.field("id", pa.int64()),
            pa.field("n", pa.int32(), metadata={"arrowtail.missing_value": "7"}),
            pa.field("gone", pa.bool_()),
        ],
        [{"id": 1, "_op": "c", "_pos": 1}],
    )
    assert column_changes(old_value, serializer.schemas(defaulted)[1]) == []


def test_sink_options_select_the_avro_format() -> None:
    sink = open_sink(
        "kafka://127.0.0.1:9?format=avro&registry=http://u:pw1234@127.0.0.1:8081/apis/ccompat/v7"
        "&subject_strategy=record&on_incompatible=dead_letter"
    )
    assert sink.value_format == "avro"  # type: ignore[attr-defined]
    fmt = sink._avro  # type: ignore[attr-defined]
    assert fmt.registry.url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert (fmt.subject_strategy, fmt.on_incompatible) == ("record", "dead_letter")
    assert sink._serialize_options["decimals"] == "precise"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="registry"):
        open_sink("kafka://127.0.0.1:9?format=avro")
    with pytest.raises(ConfigError, match="subject_strategy"):
        open_sink("kafka://127.0.0.1:9?format=avro&registry=http://r:1&subject_strategy=x")
    with pytest.raises(ConfigError, match="format"):
        open_sink("kafka://127.0.0.1:9?format=xml")


def test_chosen_key_columns_are_nullable_unless_not_null() -> None:
    columns = [pa.field("code", pa.string()), pa.field("n", pa.int64())]
    batch = change_batch(
        columns,
        [
            {"code": None, "n": 1, "_op": "c", "_pos": 1},
            {"code": "a", "n": 2, "_op": "c", "_pos": 2},
        ],
        primary_key=("code", "n"),
    )
    metadata = {
        **batch.schema.metadata,
        b"arrowtail.key_from": b"key_columns",
        b"arrowtail.not_null": b"n",
    }
    batch = batch.replace_schema_metadata(metadata)
    key_schema = json.loads(_core.AvroSerializer().schemas(batch)[0])
    assert key_schema["fields"] == [
        {"name": "code", "type": ["null", "string"], "default": None},
        {"name": "n", "type": "long"},
    ]
    json_pairs, avro_pairs, _ = both(batch)
    assert [k for k, _ in avro_pairs] == [{"code": None, "n": 1}, {"code": "a", "n": 2}]
    assert avro_pairs == json_pairs


#: Columns added with a value for the rows already there (``arrowtail.missing_value``), and the
#: default each gets: the value in the column's event form (JSON), or none where its text does not
#: read as the type (binary, intervals, arrays).
MISSING = {
    "flag": ("t", True),
    "small": ("7", 7),
    "num": ("1.5", "Bdw="),  # 1500 at scale 3
    "txt": ("it's", "it's"),
    "day": ("2024-01-02", 19724),
    "tstz": ("2024-01-02 03:04:05+00", "2024-01-02T03:04:05.000000Z"),
    "tod": ("00:00:01", 1_000_000),
    "raw": ("\\x00", None),
    "iv": ("1 day", None),
    "arr": ("{a}", None),
}


def _with_missing_values() -> list[pa.Field]:
    return [
        f.with_metadata({"arrowtail.missing_value": MISSING[f.name][0]}) if f.name in MISSING else f
        for f in TYPES
    ]


def test_missing_values_are_the_defaults_of_both_formats() -> None:
    batch = change_batch(_with_missing_values(), rows())
    json_pairs, avro_pairs, (_, value_schema, _, _) = both(batch)
    # The values themselves are unchanged, nulls included, in both formats.
    assert avro_pairs == json_pairs
    plain, _, _ = both(change_batch(TYPES, rows()))
    assert json_pairs == plain
    serializer = _core.DebeziumSerializer(topic_prefix="srv", decimals="precise", schemas=True)
    _, values, _, _ = serializer.serialize(batch, partitions=3)
    event = json.loads(values.to_pylist()[0])
    for image in ("before", "after"):
        struct = next(f for f in event["schema"]["fields"] if f["field"] == image)
        defaults = {f["field"]: f["default"] for f in struct["fields"] if "default" in f}
        assert defaults == {c: d for c, (_, d) in MISSING.items() if d is not None}, image
    # Avro: a field with a default puts its type first, the default on the field and in the
    # type's connect.default; the others stay ["null", T] with default null.
    value = json.loads(value_schema)["fields"][0]["type"][1]
    fields = {f["name"]: f for f in value["fields"]}
    for name, (_, wanted) in MISSING.items():
        field = fields[name]
        if wanted is None:
            assert field["type"][0] == "null" and field["default"] is None, field
            continue
        assert field["type"][1] == "null", field
        assert field["type"][0]["connect.default"] == field["default"], field
        got = field["default"]
        if name == "num":  # bytes: Avro's JSON form is the string of their code points
            got = base64.b64encode(got.encode("latin-1")).decode()
        assert got == wanted, name
    # A reader of the new schema given a row written before the columns existed takes the
    # defaults (fastavro's schema resolution).
    old = change_batch(
        [f for f in TYPES if f.name not in MISSING], [{"id": 9, "_op": "c", "_pos": 70}]
    )
    _, old_pairs, (_, old_schema, _, _) = both(old)
    avro = _core.AvroSerializer(topic_prefix="srv", decimals="precise", ts_ms=7)
    _, messages, _, _ = avro.serialize(old, key_schema_id=11, value_schema_id=12, partitions=3)
    read = fastavro.schemaless_reader(
        io.BytesIO(messages.to_pylist()[0][5:]),
        fastavro.parse_schema(json.loads(old_schema)),
        fastavro.parse_schema(json.loads(value_schema)),
    )
    after = read["after"]
    assert (after["small"], after["txt"], after["flag"]) == (7, "it's", True)
    # fastavro hands a bytes default over as its JSON string: the code points are 1500's bytes.
    assert after["num"] in (decimal.Decimal("1.500"), "\x05\xdc")
    assert after["day"] == 19724 and after["raw"] is None
    assert old_pairs[0][1]["after"]["id"] == 9


def test_money_and_mysql_time_defaults_agree_in_both_formats() -> None:
    columns = [
        pa.field("id", pa.int64()),
        # PostgreSQL money: text, sent as a Decimal of scale 2.
        pa.field(
            "mo",
            pa.string(),
            metadata={"arrowtail.logical_type": "money", "arrowtail.missing_value": "$1.50"},
        ),
        # MySQL TIME: a duration, negative or past a day.
        pa.field("tm", pa.duration("us"), metadata={"arrowtail.missing_value": "-838:59:59.5"}),
    ]
    batch = change_batch(columns, [{"id": 1, "_op": "c", "_pos": 1}])
    serializer = _core.DebeziumSerializer(topic_prefix="srv", decimals="precise", schemas=True)
    _, values, _, _ = serializer.serialize(batch, partitions=1)
    event = json.loads(values.to_pylist()[0])
    after = next(f for f in event["schema"]["fields"] if f["field"] == "after")
    defaults = {f["field"]: f.get("default") for f in after["fields"]}
    assert defaults == {"id": None, "mo": "AJY=", "tm": -3_020_399_500_000}
    _, _, (_, value_schema, _, _) = both(batch)
    record = json.loads(value_schema)["fields"][0]["type"][1]
    avro = {f["name"]: f.get("default") for f in record["fields"]}
    assert base64.b64encode(avro["mo"].encode("latin-1")).decode() == "AJY="
    assert avro["tm"] == -3_020_399_500_000
