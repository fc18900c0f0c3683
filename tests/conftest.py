"""Session-scoped fixtures that start real servers for the integration tests.

``postgres``, ``mariadb``, ``kafka`` and ``registry`` each start one private server per test
session (see ``tests/servers/``) and remove it at the end, also when tests fail. A server whose
binaries or jars are not installed makes its tests skip with the reason, unless
``ARROWTAIL_REQUIRE_SERVERS=1`` (set in CI), where it fails them instead.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

import pytest

from tests.servers import (
    KafkaServer,
    MariaDBServer,
    PostgresServer,
    ServerUnavailable,
    TlsMariaDBServer,
)
from tests.servers._process import require_servers
from tests.servers.connect import ConnectServer
from tests.servers.postgres_tls import TlsPostgresServer
from tests.servers.registry import RegistryServer

S = TypeVar(
    "S",
    PostgresServer,
    MariaDBServer,
    KafkaServer,
    TlsMariaDBServer,
    ConnectServer,
    RegistryServer,
)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # A CI time limit ends the run with SIGTERM, which by default kills Python without running any
    # teardown; as KeyboardInterrupt it lets the session fixtures stop their servers first.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)


#: Fixtures that start Java servers, heavy to start on two cores: every test that uses one, with
#: the rest of its module, goes to one xdist group per kind, so each server starts once per
#: group. A Connect worker and the registry also need a broker, so their group has its own.
_JAVA_GROUPS = (("connect", "connect"), ("registry", "connect"), ("kafka", "kafka"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups the tests for ``pytest -n 2 --dist loadgroup`` (scripts/test.sh): a module that
    starts a Java server goes to that server's group, any other module is a group of its own,
    so that module-scoped fixtures (databases of a million rows, say) are set up once. It runs
    before xdist's own hook, which reads the groups off the marks to name each test's group."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    groups: dict[str, str] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        for fixture, group in _JAVA_GROUPS:
            if fixture in item.fixturenames:
                if groups.get(module) != "connect":
                    groups[module] = group
                break
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(groups.get(module, module)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: object, ids: list[str]) -> None:
    """Under ``--dist loadgroup`` every test a worker collected must carry its group
    (``nodeid@group``): one without may run on either worker beside its module's others, each
    starting its own servers, and the wheel test building two wheels into the shared cargo
    target directory at once."""
    config = getattr(node, "config", None)
    if config is None or config.getoption("dist", None) != "loadgroup":
        return
    ungrouped = [nodeid for nodeid in ids if "@" not in nodeid.rsplit("]", 1)[-1]]
    if ungrouped:
        pytest.exit(
            f"{len(ungrouped)} tests lost their xdist group (first: {ungrouped[0]}): pytest "
            "and pytest-xdist must be the versions requirements-dev.lock pins",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def _serve(name: str, factory: Callable[[], S]) -> Iterator[S]:
    try:
        server = factory()
    except ServerUnavailable as exc:
        if require_servers():
            pytest.fail(f"{name} is required (ARROWTAIL_REQUIRE_SERVERS=1) but unavailable: {exc}")
        pytest.skip(f"{name} not available: {exc}")
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL (wal_level=logical) on 127.0.0.1; see tests/servers/postgres.py."""
    yield from _serve("PostgreSQL", PostgresServer)


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[PostgresServer]:
    """Another private PostgreSQL, with ``ssl = on``, a self-signed certificate (``.ca_file``)
    and TLS required of the password role; one per test module (tests/servers/postgres_tls.py)."""
    yield from _serve("PostgreSQL with TLS", TlsPostgresServer)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    """A private MariaDB with a ROW binlog on 127.0.0.1; see tests/servers/mariadb.py."""
    yield from _serve("MariaDB", MariaDBServer)


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaServer]:
    """A private single-node KRaft Kafka broker on 127.0.0.1; see tests/servers/kafka.py."""
    yield from _serve("Kafka", KafkaServer)


@pytest.fixture(scope="session")
def connect(kafka: KafkaServer) -> Iterator[ConnectServer]:
    """A private Kafka Connect worker with Debezium's JDBC sink, against the ``kafka`` broker;
    connectors are added per test through its REST API (tests/servers/connect.py)."""
    yield from _serve("Kafka Connect", lambda: ConnectServer(kafka.bootstrap))


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryServer]:
    """A private schema registry (Apicurio Registry, Confluent API at ``.url``) on 127.0.0.1;
    see tests/servers/registry.py."""
    yield from _serve("Schema registry", RegistryServer)


@pytest.fixture(scope="module")
def mariadb_tls() -> Iterator[TlsMariaDBServer]:
    """A second private MariaDB that accepts TCP clients only over TLS (test CA in ``.ca``);
    module-scoped: only the TLS tests need it."""
    yield from _serve("MariaDB", TlsMariaDBServer)
