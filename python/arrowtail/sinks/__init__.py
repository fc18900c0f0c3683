"""Sinks: destinations of change batches (Parquet files, Kafka topics, JSON lines).

All implement :class:`arrowtail.sinks.base.Sink`.
"""

from __future__ import annotations

from arrowtail.sinks.base import Position, Sink

__all__ = ["Position", "Sink"]
