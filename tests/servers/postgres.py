"""The private PostgreSQL of the integration tests: the same server ``arrowtail demo`` starts."""

from arrowtail.embedded.postgres import PostgresServer, find_bin_dir

__all__ = ["PostgresServer", "find_bin_dir"]
