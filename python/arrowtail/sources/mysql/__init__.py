"""The MySQL/MariaDB source: the row binlog, snapshots and a schema history.

The public names load their module on first use (PEP 562), so importing a sibling module of this
package does not import them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arrowtail.sources.mysql.position import binlog_pos
    from arrowtail.sources.mysql.source import MySqlSource, MySqlUrl, parse_url

__all__ = ["MySqlSource", "MySqlUrl", "binlog_pos", "parse_url"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        module = "position" if name == "binlog_pos" else "source"
        return getattr(importlib.import_module(f"arrowtail.sources.mysql.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
