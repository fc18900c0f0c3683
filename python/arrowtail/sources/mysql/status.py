"""``arrowtail status`` for a MySQL/MariaDB source: where the server's binlog is, where the
checkpoint is, and how far apart they are.

- bytes behind: the rest of the checkpoint's binlog file after its offset plus the size of every
  later file (``SHOW BINARY LOGS``), i.e. what a restart still has to read;
- seconds behind: time since the commit the checkpoint holds (``commit_ts`` of the position),
  zero when nothing is behind;
- files needed: the checkpoint's file and every later one; purging any of them loses changes.
"""

from __future__ import annotations

import time
from typing import Any

from arrowtail.exceptions import SourceError
from arrowtail.sources.mysql.replication import BinlogFile, binlog_status, privileges
from arrowtail.sources.mysql.source import parse_url


def binlog_lag(
    files: list[BinlogFile], checkpoint: dict[str, Any] | None, now: float
) -> dict[str, Any]:
    """Bytes and seconds behind and the files still needed, for a checkpoint position (with
    ``file``, ``offset`` and optionally ``commit_ts`` in seconds) against the server's files."""
    if not checkpoint or "file" not in checkpoint:
        return {}
    file, offset = str(checkpoint["file"]), int(checkpoint.get("offset", 4))
    names = [f.name for f in files]
    if file not in names:
        return {
            "binlog_files_needed": [],
            "checkpoint_file_purged": True,
            "lag_bytes": None,
        }
    at = names.index(file)
    needed = files[at:]
    behind = max(0, needed[0].size - offset) + sum(f.size for f in needed[1:])
    info: dict[str, Any] = {
        "lag_bytes": behind,
        "binlog_files_needed": [f.name for f in needed],
    }
    ts = checkpoint.get("commit_ts")
    if behind == 0:
        info["lag_seconds"] = 0.0
    elif ts is not None:
        info["lag_seconds"] = round(max(0.0, now - float(ts)), 3)
    return info


def mysql_status(
    url: str, password: str | None, checkpoint: dict[str, Any] | None
) -> dict[str, Any]:
    """The server's binlog position and the lag of ``checkpoint`` behind it."""
    parsed = parse_url(url)
    conn = parsed.connection(password)
    with privileges(parsed.user, parsed.host, parsed.port):
        files = conn.binary_logs()
        query = conn.query_connection()
        try:
            with query.cursor() as cur:
                row = binlog_status(cur)
                cur.execute("SELECT VERSION()")
                (version,) = cur.fetchone()
                # MariaDB's GTID state is a variable; MySQL's executed set is SHOW MASTER
                # STATUS's fifth column.
                gtid = str(row[4] or "") if row is not None and len(row) > 4 else ""
                if "mariadb" in str(version).lower():
                    cur.execute("SELECT @@global.gtid_binlog_pos")
                    gtid = str(cur.fetchone()[0] or "")
        finally:
            query.close()
    if row is None:
        raise SourceError("the server reports no binlog (SHOW MASTER STATUS is empty)")
    report: dict[str, Any] = {
        "server_file": str(row[0]),
        "server_offset": int(row[1]),
        "server_gtid": gtid,
        "binlog_files": len(files),
    }
    if checkpoint is not None and "file" in checkpoint:
        report["checkpoint_file"] = checkpoint["file"]
        report["checkpoint_offset"] = checkpoint.get("offset")
        report["checkpoint_gtid"] = checkpoint.get("gtid", "")
    report.update(binlog_lag(files, checkpoint, time.time()))
    return report
