"""``--create-tables`` from the command line, TOML or the environment, and verify's comparison of
one datum in two engines' forms (MySQL → PostgreSQL migrations)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arrowtail import config
from arrowtail.cli import _overrides, build_parser
from arrowtail.exceptions import ConfigError
from arrowtail.sinks import open_sink
from arrowtail.sinks.database.url import PostgresTargetSink
from arrowtail.verify.sides import same_row, same_value

URLS = ["--source", "mysql://cdc@h:3306/", "--to", "postgresql://app@h/db"]


def test_create_tables_flag_reaches_the_sink_config() -> None:
    flagged = build_parser().parse_args(["run", *URLS, "--create-tables"])
    cfg = config.load(overrides=_overrides(flagged), environ={})
    assert cfg.sink.create_tables is True
    plain = build_parser().parse_args(["run", *URLS])
    assert config.load(overrides=_overrides(plain), environ={}).sink.create_tables is False
    from_env = config.load(
        overrides=_overrides(plain), environ={"ARROWTAIL_SINK_CREATE_TABLES": "yes"}
    )
    assert from_env.sink.create_tables is True
    with pytest.raises(ConfigError, match="sink.create_tables must be true or false"):
        config.load(overrides=_overrides(plain), environ={"ARROWTAIL_SINK_CREATE_TABLES": "maybe"})


def test_open_sink_passes_create_tables_to_database_targets_only() -> None:
    sink = open_sink("postgresql://app@h/db", create_tables=True)
    assert isinstance(sink, PostgresTargetSink) and sink.create_tables is True
    plain = open_sink("postgresql://app@h/db")
    assert isinstance(plain, PostgresTargetSink) and plain.create_tables is False
    with pytest.raises(ConfigError, match="applies to database targets"):
        open_sink("parquet:/tmp/out", create_tables=True)


@pytest.mark.parametrize(
    ("mysql", "postgres"),
    [
        (Decimal("12345678901234567890123456789.5"), "12345678901234567890123456789.50"),  # wide
        (b"\x80\x00\x00\x00\x00\x00\x03\xea", Decimal("9223372036854776810")),  # BIT(64)
        (b"\x01", 1),  # BIT(1)
        ("x,z", ("z", "x")),  # SET
        ("", ()),  # empty SET
        ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", bytes.fromhex("a0eebc999c0b4ef8bb6d6bb9bd380a11")),
    ],
)
def test_one_datum_in_two_engines_forms_is_the_same(mysql, postgres) -> None:
    assert same_value(mysql, postgres) and same_value(postgres, mysql)
    assert same_row((1, mysql), (1, postgres))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Decimal("1.5"), "1.6"),
        (Decimal("1.5"), "not a number"),
        (b"\x02", 1),
        ("x,y", ("x",)),
        (None, ""),
        ("1", 1),
        ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", bytes.fromhex("a0eebc999c0b4ef8bb6d6bb9bd380a11")),
        ("not a uuid at all, sixteen", bytes(16)),
    ],
)
def test_different_data_stay_different(a, b) -> None:
    assert not same_value(a, b)
    assert not same_row((1, a), (1, b))
    assert not same_row((1,), (1, a))  # another width
