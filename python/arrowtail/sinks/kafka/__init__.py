"""The Kafka sink: Debezium-compatible messages, outbox routing.

The public names load their module on first use (PEP 562), so importing a sibling module of this
package does not import them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arrowtail.sinks.kafka.sink import (
        KafkaSink,
    )

__all__ = ["KafkaSink"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("arrowtail.sinks.kafka.sink"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
