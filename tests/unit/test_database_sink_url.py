"""Database sinks built from ``--to`` URLs (no server: nothing connects before ``open``)."""

from __future__ import annotations

import pytest

from arrowtail.exceptions import ConfigError, SinkError
from arrowtail.sinks.database.url import MySqlTargetSink, PostgresTargetSink, sink_from_url
from tests.support.batches import SIMPLE_COLUMNS, change_batch, simple_rows


def test_postgres_url_keeps_connection_options_and_takes_sink_options():
    sink = sink_from_url(
        "postgresql://u@db:5433/app?sslmode=require&create_tables=1&sink_name=s1", password="pw"
    )
    assert isinstance(sink, PostgresTargetSink)
    assert sink.dsn == "postgresql://u@db:5433/app?sslmode=require&password=pw"
    assert sink.create_tables is True and sink.sink_name == "s1"


def test_mysql_url_and_keyword_overrides():
    sink = sink_from_url("mysql://u:p%40ss@db:3307/target?create_tables=no", create_tables=True)
    assert isinstance(sink, MySqlTargetSink)
    assert sink.params == {"host": "db", "port": 3307, "user": "u", "password": "p@ss"}
    assert sink.database == "target" and sink.create_tables is True


@pytest.mark.parametrize("url", ["mysql://u@db/", "kafka://x:9092"])
def test_bad_urls_are_configuration_errors(url):
    with pytest.raises(ConfigError):
        sink_from_url(url)


def test_a_table_without_a_key_is_refused_with_the_ways_on():
    # Refused before anything connects: the batch names no key column.
    sink = sink_from_url("postgresql://u@db/app")
    batch = change_batch(SIMPLE_COLUMNS, simple_rows(0, 1, pos=1), primary_key=())
    with pytest.raises(SinkError, match=r"--key-columns 'public\.t:col,\.\.\.'.*--tables"):
        sink.write("public.t", 1, batch)
