"""Private, throw-away servers started on loopback ports: the PostgreSQL behind ``arrowtail demo``
and the real servers of the test suite (``tests/servers``)."""

from arrowtail.embedded.postgres import PostgresServer, find_bin_dir
from arrowtail.embedded.process import ServerStartError, ServerUnavailable

__all__ = ["PostgresServer", "ServerStartError", "ServerUnavailable", "find_bin_dir"]
