"""Sinks: destinations of change batches (Parquet files, Kafka topics, JSON lines).

All implement :class:`arrowtail.sinks.base.Sink`. :func:`open_sink` builds one from the
command line's ``--to`` forms (docs/design.md): ``parquet:DIR``, ``jsonl:FILE``, ``jsonl:-`` and
``kafka://HOST:PORT[,HOST:PORT...][?option=value&...]``, and database targets
``postgresql://USER@HOST/DB`` (or libpq's ``host=... dbname=...``) / ``mysql://USER@HOST/DB``
(password in the URL or in
``ARROWTAIL_TARGET_PASSWORD``; ``--create-tables`` or ``?create_tables=1`` creates missing
tables).

Kafka options in the query string: ``topic_prefix``, ``database``, ``decimals``
(``string``/``precise``/``double``), ``unavailable`` (``placeholder``/``omit``), ``tombstones``,
``schemas`` (``true``/``false``), ``value_format`` (``debezium``/``arrow``/``avro``; also as
``format``: ``json``/``arrow``/``avro``), ``registry`` (schema registry URL of the Avro format),
``subject_strategy`` (``topic``/``record``/``topic_record``), ``on_incompatible``
(``stop``/``dead_letter``), ``dead_letter_topic``,
``max_message_bytes``, ``topic.<schema.table>=<topic>`` (per-table topic),
``transaction_metadata=true`` (Debezium's transaction blocks and transaction topic,
:mod:`arrowtail.sinks.kafka.txmeta`) with ``transaction_topic``,
``exactly_once=true`` with ``transactional_id``, ``offsets_topic`` and ``sink_name``
(transactions, :mod:`arrowtail.sinks.kafka.transactions`),
``outbox=<schema.table>[,...]`` with ``outbox.<setting>=<value>`` (outbox routing, settings of
:func:`arrowtail.sinks.kafka.outbox.outbox_routes`; also ``[sink.outbox]`` in the configuration
file) and
``producer.<librdkafka setting>=<value>`` (passed to the producer, e.g. ``producer.linger.ms=20``).
Lake tables: ``iceberg:DIR`` (an embedded SQL catalog on SQLite in DIR) or
``iceberg:rest+https://HOST/PATH?warehouse=...`` (a REST catalog), and ``delta:DIR``; options
``mode`` (``mirror``, the default: tables merged by primary key; ``changelog``: every change
appended), ``commit_interval`` (seconds, default 10) and ``commit_rows`` (default 500000).
Parquet options: ``parquet:DIR?max_rows=..&max_bytes=..&max_seconds=..&row_group_rows=..
&min_commit_interval=..&compression=..&dictionary=true&max_uncommitted_bytes=..&encoders=..``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from arrowtail.exceptions import ConfigError
from arrowtail.sinks.base import PositionJSON, Sink

__all__ = ["PositionJSON", "Sink", "open_sink"]

_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _bool(name: str, value: str) -> bool:
    try:
        return _BOOL[value.lower()]
    except KeyError:
        raise ConfigError(f"sink option {name} must be true or false, not {value!r}") from None


def _number(name: str, value: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"sink option {name} must be a number, not {value!r}") from None


def open_sink(
    spec: str, *, create_tables: bool = False, outbox: dict[str, Any] | None = None
) -> Sink:
    """The sink a ``--to`` value names (not yet opened). Raises ConfigError for a bad value.
    ``create_tables`` (``--create-tables``): a database target creates missing tables; other
    sinks refuse it. ``outbox``: the ``[sink.outbox]`` settings (Kafka only), merged under the
    URL's."""
    from arrowtail.config import is_pg_conninfo

    database = spec.startswith(("postgresql://", "postgres://", "mysql://", "mariadb://"))
    database = database or is_pg_conninfo(spec)
    if create_tables and not database:
        raise ConfigError("--create-tables applies to database targets (postgresql://, mysql://)")
    if outbox and not spec.startswith("kafka://"):
        raise ConfigError("sink.outbox settings apply only to a kafka:// sink")
    if spec.startswith("jsonl:"):
        from arrowtail.sinks.jsonl import JsonlSink

        path = spec[len("jsonl:") :]
        if not path:
            raise ConfigError("jsonl sink needs a file name or '-': jsonl:FILE or jsonl:-")
        return JsonlSink(path)
    if spec.startswith("parquet:"):
        from arrowtail.sinks.parquet import ParquetSink

        path, _, query = spec[len("parquet:") :].partition("?")
        if not path:
            raise ConfigError("parquet sink needs a directory: parquet:DIR")
        kw: dict[str, Any] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name in (
                "max_rows",
                "max_bytes",
                "row_group_rows",
                "max_uncommitted_bytes",
                "encoders",
            ):
                kw[name] = _number(name, value, int)
            elif name in ("max_seconds", "min_commit_interval"):
                kw[name] = _number(name, value, float)
            elif name == "compression":
                kw[name] = value
            elif name == "dictionary":
                kw[name] = _bool(name, value)
            else:
                raise ConfigError(f"unknown parquet sink option {name!r}")
        try:
            return ParquetSink(path, **kw)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    if spec.startswith("kafka://"):
        return _kafka(spec, outbox or {})
    if spec.startswith(("iceberg:", "delta:")):
        return _lake(spec)
    if database:
        import os

        from arrowtail.redact import register_secret
        from arrowtail.sinks.database.url import sink_from_url

        # The target's password: in the URL (masked everywhere) or ARROWTAIL_TARGET_PASSWORD.
        password = os.environ.get("ARROWTAIL_TARGET_PASSWORD")
        register_secret(password)
        if create_tables:
            return sink_from_url(spec, password=password, create_tables=True)
        return sink_from_url(spec, password=password)
    raise ConfigError(
        f"unknown sink {spec!r}: use parquet:DIR, jsonl:FILE, jsonl:-, kafka://HOST:PORT, "
        "iceberg:DIR, delta:DIR, "
        "postgresql://... or mysql://..."
    )


def _lake(spec: str) -> Sink:
    fmt, _, rest = spec.partition(":")
    location, _, query = rest.partition("?")
    if not location:
        raise ConfigError(f"{fmt} sink needs a location: {fmt}:DIR")
    kw: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "mode":
            kw[name] = value
        elif name == "commit_interval":
            kw[name] = _number(name, value, float)
        elif name == "commit_rows":
            kw[name] = _number(name, value, int)
        else:
            raise ConfigError(f"unknown {fmt} sink option {name!r}")
    if fmt == "iceberg":
        from arrowtail.sinks.lake.iceberg import IcebergSink

        return IcebergSink(location, **kw)
    from arrowtail.sinks.lake.delta import DeltaSink

    return DeltaSink(location, **kw)


def _kafka(spec: str, outbox: dict[str, Any]) -> Sink:
    from arrowtail.sinks.kafka.sink import KafkaSink

    url = urlsplit(spec)
    if not url.netloc:
        raise ConfigError("kafka sink needs brokers: kafka://HOST:PORT[,HOST:PORT]")
    kw: dict[str, Any] = {}
    topics: dict[str, str] = {}
    producer: dict[str, Any] = {}
    outbox = dict(outbox)
    exactly_once: dict[str, Any] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        if name == "exactly_once":
            exactly_once[name] = _bool(name, value)
        elif name in ("transactional_id", "offsets_topic", "sink_name"):
            exactly_once[name] = value
        elif name.startswith("producer."):
            producer[name[len("producer.") :]] = value
        elif name.startswith("topic."):
            topics[name[len("topic.") :]] = value
        elif name == "outbox":
            outbox["table"] = value
        elif name.startswith("outbox."):
            outbox[name[len("outbox.") :]] = value
        elif name in ("tombstones", "schemas", "transaction_metadata"):
            kw[name] = _bool(name, value)
        elif name == "max_message_bytes":
            kw[name] = _number(name, value, int)
        elif name in (
            "topic_prefix",
            "database",
            "decimals",
            "unavailable",
            "value_format",
            "dead_letter_topic",
            "binlog_basename",
            "transaction_topic",
        ):
            kw[name] = value
        elif name == "server_id":
            kw[name] = _number(name, value, int)
        elif name == "format":
            formats = {"json": "debezium", "avro": "avro", "arrow": "arrow"}
            if value not in formats:
                raise ConfigError(
                    f"kafka sink option format must be json, avro or arrow, not {value!r}"
                )
            kw["value_format"] = formats[value]
        elif name in ("registry", "subject_strategy", "on_incompatible"):
            kw[name] = value
        else:
            raise ConfigError(f"unknown kafka sink option {name!r}")
    if exactly_once.pop("exactly_once", False):
        from arrowtail.sinks.kafka.transactions import TransactionalKafkaSink

        return TransactionalKafkaSink(
            url.netloc,
            topics=topics,
            producer_config=producer,
            outbox=outbox or None,
            **exactly_once,
            **kw,
        )
    if exactly_once:
        raise ConfigError(
            f"kafka sink option {next(iter(exactly_once))} applies only with exactly_once=true"
        )
    return KafkaSink(
        url.netloc, topics=topics, producer_config=producer, outbox=outbox or None, **kw
    )
