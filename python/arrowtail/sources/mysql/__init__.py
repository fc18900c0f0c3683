"""The MySQL/MariaDB source: the row binlog, snapshots and a schema history."""

from arrowtail.sources.mysql.source import (
    MySqlSource,
    MySqlUrl,
    binlog_pos,
    parse_url,
)

__all__ = ["MySqlSource", "MySqlUrl", "binlog_pos", "parse_url"]
