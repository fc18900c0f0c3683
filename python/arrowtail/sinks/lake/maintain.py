"""``arrowtail maintain``: the table formats' own housekeeping for the lake sinks' tables.

A sink that commits every few seconds leaves many small data files and a long snapshot history.
This compacts each table's data into fewer files and drops snapshots (Iceberg) or removed files
and old log entries (Delta) older than a retention period, through pyiceberg's and delta-rs's
own operations. Run it while no ``arrowtail run`` writes to the same tables (a commit racing a
compaction fails and the run stops without acknowledging anything; a restart resumes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from arrowtail.exceptions import ConfigError


@dataclass
class Maintained:
    table: str
    files_before: int
    files_after: int
    expired: int


def maintain(spec: str, *, retain_hours: float = 168.0, compact: bool = True) -> list[Maintained]:
    fmt, _, location = spec.partition(":")
    location = location.partition("?")[0]
    if fmt == "iceberg":
        return _iceberg(location, retain_hours, compact)
    if fmt == "delta":
        return _delta(location, retain_hours, compact)
    raise ConfigError(f"maintain works on iceberg:DIR or delta:DIR, not {spec!r}")


def _iceberg(location: str, retain_hours: float, compact: bool) -> list[Maintained]:
    from arrowtail.sinks.lake.base import HIGH_WATER_KEY, POSITION_KEY
    from arrowtail.sinks.lake.iceberg import STATE_NAMESPACE, load_catalog

    catalog = load_catalog(location)
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=retain_hours)
    out = []
    for ns in catalog.list_namespaces():
        if ns[0] == STATE_NAMESPACE:
            continue
        for ident in catalog.list_tables(ns):
            table = catalog.load_table(ident)
            before = len(table.inspect.files())
            if compact and before > 1:
                # Rewrite the live rows into new files in one commit; the position properties
                # stay as they are (the data is the same).
                props = {
                    k: v for k, v in table.properties.items() if k in (POSITION_KEY, HIGH_WATER_KEY)
                }
                data = table.scan().to_arrow()
                with table.transaction() as tx:
                    tx.overwrite(data, snapshot_properties=props)
                table = catalog.load_table(ident)
            expired = 0
            current = table.current_snapshot()
            old = [
                s.snapshot_id
                for s in table.snapshots()
                if s.timestamp_ms < cutoff.timestamp() * 1000
                and (current is None or s.snapshot_id != current.snapshot_id)
            ]
            if old:
                table.maintenance.expire_snapshots().by_ids(old).commit()
                expired = len(old)
                table = catalog.load_table(ident)
            out.append(Maintained(".".join(ident), before, len(table.inspect.files()), expired))
    return out


def _delta(location: str, retain_hours: float, compact: bool) -> list[Maintained]:
    import deltalake

    from arrowtail.sinks.lake.delta import STATE_DIR
    from arrowtail.sinks.lake.delta import location as delta_location

    root = Path(location)
    if not root.is_dir():
        raise ConfigError(f"Delta Lake root {root} does not exist")
    out = []
    for path in sorted(root.iterdir()):
        if not (path / "_delta_log").is_dir():
            continue
        dtable = deltalake.DeltaTable(delta_location(path))
        before = len(dtable.file_uris())
        if compact and path.name != STATE_DIR:
            dtable.optimize.compact()
        removed = deltalake.DeltaTable(delta_location(path)).vacuum(
            retention_hours=int(retain_hours), dry_run=False, enforce_retention_duration=False
        )
        deltalake.DeltaTable(delta_location(path)).cleanup_metadata()
        after = len(deltalake.DeltaTable(delta_location(path)).file_uris())
        out.append(Maintained(path.name, before, after, len(removed)))
    return out
