"""The PostgreSQL source: logical replication (pgoutput), snapshots, heartbeats."""

from arrowtail.sources.postgres.source import (
    PostgresSource,
    protocol_for,
)

__all__ = ["PostgresSource", "protocol_for"]
