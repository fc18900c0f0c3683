"""One measured run in a fresh process: ``python -m benches.worker KIND 'JSON ARGS'``.

Reading the input file and importing modules happen before the clock starts; the process prints
``{"seconds": ..., "rows": ...}`` on stdout. Peak RSS is taken by the parent from ``wait4``, so each
system's memory is measured in a process of its own.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benches.apply_benches import WORKER_KINDS as APPLY_KINDS
from benches.verify_benches import WORKER_KINDS as VERIFY_KINDS


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _sink_write(batches: list[tuple[str, int, Any]], out: str) -> None:
    from arrowtail.sinks import open_sink

    sink = open_sink(f"parquet:{out}")
    sink.open()
    for table, version, batch in batches:
        sink.write(table, version, batch)
    sink.commit({"lsn": 1})
    sink.close()


def pg_arrow(a: dict[str, Any]) -> Callable[[], int]:
    from arrowtail import PgOutputDecoder

    data = _read(a["input"])

    def run() -> int:
        dec = PgOutputDecoder()
        dec.feed_capture(data)
        batches = dec.flush()
        if a.get("out"):
            _sink_write(batches, a["out"])
        return sum(b.num_rows for _, _, b in batches)

    return run


def pypgoutput_parse(a: dict[str, Any]) -> Callable[[], int]:
    from benches import pgpeer

    data = _read(a["input"])
    return lambda: pgpeer.parse(data)


def pypgoutput_parquet(a: dict[str, Any]) -> Callable[[], int]:
    import pyarrow.parquet as pq

    from benches import pgpeer

    data = _read(a["input"])
    schema = pq.read_schema(a["schema"])
    return lambda: pgpeer.typed_parquet(data, Path(a["out"]), schema, a["table"])


def binlog_arrow(a: dict[str, Any]) -> Callable[[], int]:
    from arrowtail import BinlogDecoder

    blobs = [(_read(p), Path(p).name) for p in a["inputs"]]

    def run() -> int:
        dec = BinlogDecoder()
        for data, name in blobs:
            dec.feed_file_bytes(data, name)
        batches = dec.flush()
        if a.get("out"):
            _sink_write(batches, a["out"])
        return sum(b.num_rows for _, _, b in batches)

    return run


def mysql_replication(a: dict[str, Any]) -> Callable[[], int]:
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    def run() -> int:
        stream = BinLogStreamReader(
            connection_settings={
                "host": a["host"],
                "port": a["port"],
                "user": a["user"],
                "passwd": a["password"],
            },
            server_id=a.get("server_id", 4242),
            blocking=False,
            resume_stream=True,
            log_file=a["log_file"],
            log_pos=4,
            only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
            only_schemas=[a["database"]],
            # File/position mode (COM_BINLOG_DUMP); its MariaDB mode needs a GTID position.
        )
        rows = 0
        try:
            for event in stream:
                for row in event.rows:  # resolves every row into Python values
                    rows += 1
                    if "after_values" in row:
                        row["after_values"]
        finally:
            stream.close()
        return rows

    return run


def copy_binary(a: dict[str, Any]) -> Callable[[], int]:
    import psycopg

    def run() -> int:
        with psycopg.connect(a["dsn"]) as conn, open("/dev/null", "wb") as devnull:
            with conn.cursor() as cur:
                with cur.copy(f"COPY ({a['query']}) TO STDOUT (FORMAT binary)") as copy:
                    for block in copy:
                        devnull.write(block)
        return int(a["rows"])  # COPY blocks are not rows; the parent knows the count

    return run


KINDS: dict[str, Callable[[dict[str, Any]], Callable[[], int]]] = {
    "pg-arrow": pg_arrow,
    "pypgoutput-parse": pypgoutput_parse,
    "pypgoutput-parquet": pypgoutput_parquet,
    "binlog-arrow": binlog_arrow,
    "mysql-replication": mysql_replication,
    "copy-binary": copy_binary,
}
KINDS.update(APPLY_KINDS)
KINDS.update(VERIFY_KINDS)


def main() -> None:
    kind, args = sys.argv[1], json.loads(sys.argv[2])
    run = KINDS[kind](args)
    start = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": rows}))


if __name__ == "__main__":
    main()
