"""Database target sinks: apply change batches to PostgreSQL or MySQL/MariaDB tables, exactly once.

``PostgresTargetSink(dsn, ...)`` and ``MySqlTargetSink(host, port, user, password, database, ...)``
implement the sink protocol (``open``, ``write``, ``commit``, ``durable_position``, ``close``).
Keyword arguments of both: ``sink_name`` (the row in ``arrowtail_state``, default
``"arrowtail"``), ``create_tables`` (create missing target tables and add missing columns from the
Arrow schema; otherwise the target schema is checked and differences are reported), ``table_map``
(``{"schema.table": "target_schema.target_table"}`` or a callable; same name by default).
``sink_from_url`` builds either from a ``--to`` style URL.
How batches are reduced and applied: :mod:`arrowtail.changes`,
:mod:`arrowtail.sinks.database.target`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlparse, urlunparse

from arrowtail.exceptions import ConfigError
from arrowtail.sinks.database.mysql import MySqlTargetSink
from arrowtail.sinks.database.postgres import PostgresTargetSink
from arrowtail.sinks.database.target import STATE_TABLE, TargetSink

#: URL query parameters that configure the sink rather than the connection.
_SINK_OPTIONS = ("sink_name", "create_tables")


def sink_from_url(url: str, password: str | None = None, **kw: Any) -> TargetSink:
    """``postgresql://user@host:port/db?create_tables=1&sink_name=x`` or
    ``mysql://user:pass@host:port/db?...`` -> a database sink; ``password`` is used when the URL
    has none; keywords override the URL's options."""
    from arrowtail.config import is_pg_conninfo

    if is_pg_conninfo(url):
        return PostgresTargetSink(_conninfo_with_password(url, password), **kw)
    parsed = urlparse(url)
    query = dict(parse_qsl(parsed.query))
    options: dict[str, Any] = {k: query.pop(k) for k in _SINK_OPTIONS if k in query}
    if "create_tables" in options:
        options["create_tables"] = options["create_tables"].lower() in ("1", "true", "yes", "on")
    options.update(kw)
    if parsed.scheme in ("postgres", "postgresql"):
        dsn = urlunparse(parsed._replace(query=urlencode(query)))
        if password and not parsed.password:
            dsn += ("&" if query else "?") + urlencode({"password": password})
        return PostgresTargetSink(dsn, **options)
    if parsed.scheme in ("mysql", "mariadb"):
        database = parsed.path.lstrip("/")
        if not database:
            raise ConfigError(f"{parsed.scheme} target URL needs a database: mysql://host/DB")
        return MySqlTargetSink(
            parsed.hostname or "127.0.0.1",
            parsed.port or 3306,
            unquote(parsed.username or ""),
            unquote(parsed.password or "") or password or "",
            database,
            **options,
        )
    raise ConfigError(f"not a database target URL: {parsed.scheme}://... (postgresql or mysql)")


def _conninfo_with_password(conninfo: str, password: str | None) -> str:
    """A libpq ``key=value`` string with ``password`` added when it has none."""
    import psycopg

    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"not a valid PostgreSQL connection string: {exc}") from None
    if password and not params.get("password"):
        return psycopg.conninfo.make_conninfo(conninfo, password=password)
    return conninfo


__all__ = ["STATE_TABLE", "MySqlTargetSink", "PostgresTargetSink", "TargetSink", "sink_from_url"]
