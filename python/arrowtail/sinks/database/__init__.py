"""Database target sinks: PostgreSQL and MySQL/MariaDB tables kept in step, exactly once."""

from arrowtail.sinks.database.url import (
    STATE_TABLE,
    MySqlTargetSink,
    PostgresTargetSink,
    TargetSink,
    sink_from_url,
)

__all__ = ["MySqlTargetSink", "PostgresTargetSink", "STATE_TABLE", "TargetSink", "sink_from_url"]
