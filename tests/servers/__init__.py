"""Private, throw-away database and broker servers for the integration tests.

Each class starts a real server on a free loopback port inside its own temporary directory, waits
until it answers, and removes everything again on ``cleanup()``. ``tests/conftest.py`` wraps them
in session-scoped pytest fixtures.
"""

from tests.servers._process import ServerStartError, ServerUnavailable
from tests.servers.kafka import KafkaServer
from tests.servers.mariadb import MariaDBServer, TlsMariaDBServer
from tests.servers.postgres import PostgresServer

__all__ = [
    "KafkaServer",
    "MariaDBServer",
    "PostgresServer",
    "ServerStartError",
    "ServerUnavailable",
    "TlsMariaDBServer",
]
