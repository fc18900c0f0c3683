"""A separate process that applies change batches and then waits to be killed (crash tests).

``python -m tests.support.dbsink_child ENGINE CONNECT_JSON BATCHES_ARROW COMMITS``: opens the
sink, writes and commits the first COMMITS batches, writes the next one without committing, prints
``written`` and blocks on stdin until the parent kills it with SIGKILL.
"""

from __future__ import annotations

import json
import sys

import pyarrow as pa

from tests.support.dbsink_cases import last_pos


def make_sink(engine: str, params: dict):
    from arrowtail.sinks.database.url import MySqlTargetSink, PostgresTargetSink

    if engine == "postgres":
        return PostgresTargetSink(params["dsn"], sink_name=params.get("sink_name", "arrowtail"))
    return MySqlTargetSink(
        params["host"],
        params["port"],
        params["user"],
        params["password"],
        params["database"],
        sink_name=params.get("sink_name", "arrowtail"),
    )


def position(engine: str, pos: int) -> dict:
    return {"lsn": pos} if engine == "postgres" else {"pos": pos, "file": "mariadb-bin.000001"}


def main() -> None:
    engine, params, path, commits = (
        sys.argv[1],
        json.loads(sys.argv[2]),
        sys.argv[3],
        int(sys.argv[4]),
    )
    with pa.OSFile(path) as f:
        batches = list(pa.ipc.open_stream(f))
    sink = make_sink(engine, params)
    sink.open()
    for batch in batches[:commits]:
        table = batch.schema.metadata[b"arrowtail.table"].decode()
        sink.write(table, 1, batch)
        sink.commit(position(engine, last_pos(batch)))
        print("committed", last_pos(batch), flush=True)
    batch = batches[commits]
    sink.write(batch.schema.metadata[b"arrowtail.table"].decode(), 1, batch)
    print("written", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
