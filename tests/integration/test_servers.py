"""Proof that the server fixtures start real servers with the configuration the tests rely on."""

from __future__ import annotations

import pytest


def test_postgres_round_trip_and_logical_wal(postgres) -> None:
    with postgres.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS fixture_check")
        conn.execute("CREATE TABLE fixture_check (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO fixture_check VALUES (1, 'één'), (2, 'two')")
        rows = conn.execute("SELECT id, name FROM fixture_check ORDER BY id").fetchall()
        assert rows == [(1, "één"), (2, "two")]
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        assert int(conn.execute("SHOW max_prepared_transactions").fetchone()[0]) >= 1
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_postgres_password_role(postgres) -> None:
    import psycopg

    with psycopg.connect(postgres.dsn_for("arrowtail", "arrowtail-secret-pw")) as conn:
        user, repl = conn.execute(
            "SELECT current_user, rolreplication FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert (user, repl) == ("arrowtail", True)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.dsn_for("arrowtail", "not-the-password"), connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(postgres.dsn_for("arrowtail"), connect_timeout=5)


def test_postgres_restart_keeps_data(postgres) -> None:
    with postgres.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS restart_check")
        conn.execute("CREATE TABLE restart_check (id int PRIMARY KEY)")
        conn.execute("INSERT INTO restart_check SELECT generate_series(1, 100)")
        before = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    port = postgres.port
    postgres.restart()
    assert postgres.port == port
    with postgres.connect() as conn:
        assert conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0] > before
        assert conn.execute("SELECT count(*), sum(id) FROM restart_check").fetchone() == (100, 5050)


def test_mariadb_round_trip_and_row_binlog(mariadb) -> None:
    conn = mariadb.connect(database="arrowtail_test")
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS fixture_check")
            cur.execute(
                "CREATE TABLE fixture_check (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)"
            )
            cur.execute("INSERT INTO fixture_check VALUES (1, 'één'), (2, 'two')")
            cur.execute("SELECT id, name FROM fixture_check ORDER BY id")
            assert cur.fetchall() == ((1, "één"), (2, "two"))
            cur.execute("SELECT @@binlog_format, @@binlog_row_image, @@binlog_row_metadata")
            assert cur.fetchone() == ("ROW", "FULL", "FULL")
            cur.execute("SELECT @@server_id, @@log_bin")
            assert cur.fetchone() == (1, 1)
            cur.execute("SHOW BINARY LOGS")
            logs = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    assert logs and all(name.startswith("mysql-bin.") for name in logs)
    assert (mariadb.binlog_dir / logs[-1]).is_file()


def test_mariadb_password_required(mariadb) -> None:
    import pymysql

    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        mariadb.connect(password="not-the-password")


def test_mariadb_restart_keeps_data(mariadb) -> None:
    conn = mariadb.connect(database="arrowtail_test")
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS restart_check")
            cur.execute("CREATE TABLE restart_check (id INT PRIMARY KEY)")
            cur.executemany("INSERT INTO restart_check VALUES (%s)", [(i,) for i in range(1, 101)])
            cur.execute("SHOW BINARY LOGS")
            logs_before = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    port = mariadb.port
    mariadb.restart()
    assert mariadb.port == port
    conn = mariadb.connect(database="arrowtail_test")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*), SUM(id) FROM restart_check")
            assert cur.fetchone() == (100, 5050)
            cur.execute("SHOW BINARY LOGS")
            logs_after = [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    # A restart rotates to a new binlog file; the old ones are kept.
    assert logs_after[: len(logs_before)] == logs_before
    assert len(logs_after) == len(logs_before) + 1


def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=30)
    metadata = admin.list_topics(topic=name, timeout=10)
    assert len(metadata.topics[name].partitions) == partitions


def _produce(bootstrap: str, topic: str, messages: dict[str, str]) -> None:
    from confluent_kafka import Producer

    errors: list[object] = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value in messages.items():
        producer.produce(
            topic, key=key, value=value, on_delivery=lambda err, _msg: err and errors.append(err)
        )
    assert producer.flush(30) == 0
    assert errors == []


def _consume_all(bootstrap: str, topic: str, expected: int) -> dict[str, tuple[str, int]]:
    """Read ``expected`` messages from the start of ``topic``: key -> (value, partition)."""
    import time

    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"fixture-check-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    seen: dict[str, tuple[str, int]] = {}
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(seen) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            seen[msg.key().decode()] = (msg.value().decode(), msg.partition())
    finally:
        consumer.close()
    return seen


def test_kafka_produce_consume_and_restart(kafka) -> None:
    topic = "fixture-check"
    _create_topic(kafka.bootstrap, topic, partitions=3)
    messages = {f"key-{i}": f"value-{i}-ünïcode" for i in range(60)}
    _produce(kafka.bootstrap, topic, messages)

    seen = _consume_all(kafka.bootstrap, topic, len(messages))
    assert {key: value for key, (value, _) in seen.items()} == messages
    assert {partition for _, partition in seen.values()} == {0, 1, 2}

    kafka.restart()
    again = _consume_all(kafka.bootstrap, topic, len(messages))
    assert again == seen


def test_kafka_auto_creates_topics(kafka) -> None:
    _produce(kafka.bootstrap, "fixture-auto-created", {"k": "v"})
    assert _consume_all(kafka.bootstrap, "fixture-auto-created", 1) == {"k": ("v", 0)}


def test_registry_speaks_the_confluent_api_with_compatibility_none(registry) -> None:
    assert registry.url.startswith("http://127.0.0.1:") and registry.url.endswith("/ccompat/v7")
    assert registry.request("GET", "/config")["compatibilityLevel"] == "NONE"
    schema = '{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}'
    first = registry.request("POST", "/subjects/fixture-check/versions", {"schema": schema})
    again = registry.request("POST", "/subjects/fixture-check/versions", {"schema": schema})
    assert first == again and isinstance(first["id"], int)
    registry.set_compatibility("fixture-check", "BACKWARD")
    assert registry.request("GET", "/config/fixture-check")["compatibilityLevel"] == "BACKWARD"
    assert registry.versions("fixture-check") == [1]
    assert registry.versions("no-such-subject") == []
