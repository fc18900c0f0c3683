"""Database target sinks: apply change batches to PostgreSQL or MySQL/MariaDB tables, exactly once.

``PostgresTargetSink(dsn, ...)`` and ``MySqlTargetSink(host, port, user, password, database, ...)``
implement the sink protocol (``open``, ``write``, ``commit``, ``durable_position``, ``close``).
Keyword arguments of both: ``sink_name`` (the row in ``arrowtail_state``, default
``"arrowtail"``), ``create_tables`` (create missing target tables and add missing columns from the
Arrow schema; otherwise the target schema is checked and differences are reported), ``table_map``
(``{"schema.table": "target_schema.target_table"}`` or a callable; same name by default).
How batches are reduced and applied: :mod:`arrowtail.sinks.changes`, :mod:`arrowtail.sinks.target`.
"""

from __future__ import annotations

from arrowtail.sinks.mysql_target import MySqlTargetSink
from arrowtail.sinks.postgres_target import PostgresTargetSink
from arrowtail.sinks.target import STATE_TABLE, TargetSink

__all__ = ["STATE_TABLE", "MySqlTargetSink", "PostgresTargetSink", "TargetSink"]
