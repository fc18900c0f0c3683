"""Database target sinks: PostgreSQL and MySQL/MariaDB tables kept in step, exactly once.

The public names load their module on first use (PEP 562), so importing a sibling module of this
package does not import them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arrowtail.sinks.database.url import (
        STATE_TABLE,
        MySqlTargetSink,
        PostgresTargetSink,
        TargetSink,
        sink_from_url,
    )

__all__ = ["MySqlTargetSink", "PostgresTargetSink", "STATE_TABLE", "TargetSink", "sink_from_url"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("arrowtail.sinks.database.url"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
