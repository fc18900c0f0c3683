"""Avro output read by Debezium's JDBC sink through a Kafka Connect Avro converter nobody here
wrote: arrowtail streams PostgreSQL tables into Kafka as Avro with schemas in Apicurio Registry
(``format=avro``), the JDBC sink connector reads them with Apicurio's ``AvroConverter`` (Confluent
wire format: ``apicurio.registry.as-confluent``) into a PostgreSQL target, and ``arrowtail verify``
finds source and target equal.

The tables and changes are those of ``test_debezium_jdbc_sink.py``: REPLICA IDENTITY DEFAULT,
FULL and USING INDEX, a composite key, a table without a primary key, key changes, deletes with
tombstones, NULLs, uuid, timestamptz and numeric (Avro decimals), columns added with a value
for the rows already there (the field's Avro default, which the sink's ALTER TABLE gives them),
and the extension types and named strings of ``t_ext`` (a one-bit string as an Avro boolean, an
hstore as JSON text), which the target holds in the forms ``verify`` compares as the same data.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from arrowtail.verify.compare import verify as verify_tables
from tests.integration.test_debezium_jdbc_sink import (
    KEYED,
    PG_SCHEMA,
    PG_SEED,
    PG_WORKLOAD,
    jdbc_sink,
    pg_rows,
    wait_for,
)
from tests.servers._process import require_servers
from tests.servers.connect import find_avro_converter
from tests.support.avro_events import framed_id
from tests.support.cli import cli
from tests.support.kafka_topics import consume_until_quiet
from tests.support.pg_run import EXTENSIONS, fresh_db

CONVERTER = "io.apicurio.registry.utils.converter.AvroConverter"
#: The keyed tables, and the one whose added columns need the sink's schema evolution.
TABLES = [*KEYED, "t_added"]
#: The table of extension types, compared by verify (the target holds other forms of some).
EXT = "t_ext"


def avro_converters(registry: Any) -> dict[str, str]:
    """Key and value converter settings: Apicurio's Avro converter reading the Confluent wire
    format, schemas looked up by the ids in the messages (Apicurio's content ids, which its
    Confluent API hands out) through the registry's own API."""
    native = registry.url.removesuffix("/apis/ccompat/v7") + "/apis/registry/v2"
    config: dict[str, str] = {}
    for side in ("key", "value"):
        config |= {
            f"{side}.converter": CONVERTER,
            f"{side}.converter.apicurio.registry.url": native,
            f"{side}.converter.apicurio.registry.as-confluent": "true",
            f"{side}.converter.apicurio.registry.use-id": "contentId",
            f"{side}.converter.apicurio.registry.headers.enabled": "false",
        }
    return config


def test_postgres_avro_through_apicurio_converter_and_jdbc_sink(
    postgres: Any, kafka: Any, registry: Any, connect: Any, tmp_path: Path
) -> None:
    if find_avro_converter() is None:
        reason = "Apicurio's Avro converter not in the cache; run scripts/fetch-registry.sh"
        if require_servers():
            pytest.fail(f"{reason} (ARROWTAIL_REQUIRE_SERVERS=1)")
        pytest.skip(reason)
    src = fresh_db(postgres, "dbz_avro_src")
    tgt = fresh_db(postgres, "dbz_avro_tgt")
    tgt.execute(EXTENSIONS)
    src.execute(PG_SCHEMA)
    src.execute("CREATE PUBLICATION dbzavrop FOR ALL TABLES")
    src.execute(PG_SEED)
    prefix = f"av{uuid.uuid4().hex[:8]}"
    source_url = postgres.dsn_for(postgres.user, None, "dbz_avro_src")
    args = ["run", "--source", source_url, "--slot", "dbzavroslot", "--publication", "dbzavrop"]
    args += ["--to", f"kafka://{kafka.bootstrap}?topic_prefix={prefix}&format=avro"]
    args[-1] += f"&registry={registry.url}"
    args += ["--checkpoint", str(tmp_path / "cp.json")]
    first = cli(*args, "--snapshot", "initial", "--idle-exit", "3")
    assert first.returncode == 0, first.stderr
    src.execute(PG_WORKLOAD)
    second = cli(*args, "--idle-exit", "3")
    assert second.returncode == 0, second.stderr

    # The messages are Avro in the Confluent wire format, keyless for the table without a key.
    full = consume_until_quiet(kafka.bootstrap, f"{prefix}.public.t_full", quiet=2)
    assert full and all(m.key()[0] == 0 for m in full)
    assert {framed_id(m.value()) for m in full if m.value() is not None} == {
        registry.request("GET", f"/subjects/{prefix}.public.t_full-value/versions/latest")["id"]
    }
    nokey = consume_until_quiet(kafka.bootstrap, f"{prefix}.public.t_nokey", quiet=2)
    assert nokey and all(m.key() is None for m in nokey)

    names = [f"{prefix}-keyed", f"{prefix}-nokey"]
    converters = avro_converters(registry)
    topics = [f"{prefix}.public.{t}" for t in [*TABLES, EXT]]
    target_url = postgres.dsn_for(postgres.user, None, "dbz_avro_tgt")
    keyed = jdbc_sink(postgres, "dbz_avro_tgt", topics, keyed=True)
    plain = jdbc_sink(postgres, "dbz_avro_tgt", [f"{prefix}.public.t_nokey"], keyed=False)
    connect.add_connector(names[0], keyed | converters)
    connect.add_connector(names[1], plain | converters)
    try:
        wait_for(
            "target equal to the source",
            lambda: (
                all(pg_rows(tgt, t) == pg_rows(src, t) for t in [*TABLES, "t_nokey"])
                and verify_tables(source_url, target_url, [f"public.{EXT}"], recheck_times=0).equal
            ),
            connect,
            names,
        )
    finally:
        for name in names:
            connect.remove_connector(name)
    tables = ",".join(f"public.{t}" for t in [*TABLES, EXT])
    verify = cli("verify", "--source", source_url, "--against", target_url, "--tables", tables)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for t in [*TABLES, EXT]:
        assert f"public.{t}: equal" in verify.stdout, verify.stdout
    # The sink created the tables from the Avro schemas: numeric as numeric, uuid as uuid.
    types = dict(
        tgt.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 't_default'"
        ).fetchall()
    )
    assert types["amount"] == "numeric" and types["u"] == "uuid"
    assert types["at"] == "timestamp with time zone"
    src.close()
    tgt.close()
