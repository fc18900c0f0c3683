"""``arrowtail demo``: the whole job on a private PostgreSQL, in one command.

It starts a throw-away PostgreSQL (initdb in a temporary directory, logical WAL, a free loopback
port), creates a small shop, and streams it into Parquet while a workload runs: an initial snapshot
of the existing rows, then inserts, updates, deletes, a value big enough to be TOASTed and left
unchanged by a later update, a column added mid-stream, and a logical message. At the end it prints
the summary (rows per table and operation, rows/s, slot lag), checks that replaying the Parquet
files reproduces every source table, and shows how to read the output. Everything is removed
afterwards unless ``--out`` keeps the Parquet files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from arrowtail.exceptions import ConfigError, SourceError
from arrowtail.pipeline import Pipeline, Summary

SHOP = """
CREATE TABLE customers (
    id bigint PRIMARY KEY, name text NOT NULL, email text, country char(2),
    created timestamptz NOT NULL DEFAULT now(), profile jsonb
);
CREATE TABLE products (
    id integer PRIMARY KEY, sku uuid NOT NULL DEFAULT gen_random_uuid(), title text NOT NULL,
    price numeric(10,2) NOT NULL, tags text[], description text
);
CREATE TABLE orders (
    id bigserial PRIMARY KEY, customer_id bigint NOT NULL, product_id integer NOT NULL,
    quantity smallint NOT NULL, total numeric(12,2) NOT NULL, status text NOT NULL,
    placed date NOT NULL DEFAULT current_date, shipped_after interval
);
"""


def _seed(conn: Any, rows: int) -> None:
    conn.execute(SHOP)
    conn.execute(
        "INSERT INTO customers (id, name, email, country, profile) "
        "SELECT g, 'customer ' || g, 'c' || g || '@example.org', "
        "(ARRAY['DE','FR','US','JP','BR'])[1 + g %% 5], jsonb_build_object('tier', g %% 3) "
        "FROM generate_series(1, %s::int) g",
        (max(rows // 10, 10),),
    )
    conn.execute(
        "INSERT INTO products (id, title, price, tags) "
        "SELECT g, 'product ' || g, (g % 97) + 0.99, ARRAY['tag' || (g % 7), 'all'] "
        "FROM generate_series(1, 200) g"
    )


def _workload(dsn: str, rows: int, errors: list[BaseException]) -> None:
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            customers = max(rows // 10, 10)
            step = max(rows // 20, 1)
            for start in range(0, rows, step):
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO orders (customer_id, product_id, quantity, total, status) "
                        "SELECT 1 + g %% %s, 1 + g %% 200, 1 + g %% 5, (g %% 500) + 0.5, 'new' "
                        "FROM generate_series(%s::int, %s::int) g",
                        (customers, start, min(start + step, rows) - 1),
                    )
                    conn.execute(
                        "UPDATE orders SET status = 'shipped', shipped_after = interval '2 days' "
                        "WHERE id % 3 = 0 AND status = 'new'"
                    )
            conn.execute("DELETE FROM orders WHERE id % 10 = 0")
            conn.execute(
                "UPDATE products SET description = repeat('A long description. ', 40000) "
                "WHERE id = 1"
            )
            # The TOASTed description is not sent again for this update: it arrives "unchanged".
            conn.execute("UPDATE products SET price = price + 1 WHERE id = 1")
            # Added without a default: a default would fill existing rows without any row change
            # in the log, so no change stream (ours or any other) could carry those values.
            conn.execute("ALTER TABLE customers ADD COLUMN loyalty_points integer")
            conn.execute("UPDATE customers SET loyalty_points = id % 100 WHERE id % 4 = 0")
            conn.execute("SELECT pg_logical_emit_message(true, 'shop', 'demo finished')")
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        errors.append(exc)


def _progress(started: float) -> Any:
    tty = sys.stderr.isatty()
    last = [0.0]

    def show(summary: Summary) -> None:
        now = time.monotonic()
        if not tty or now - last[0] < 0.2:
            return
        last[0] = now
        rate = summary.rows / max(now - started, 1e-9)
        print(
            f"\r  streamed {summary.rows:>9,} changes  ({rate:,.0f} rows/s)",
            end="",
            file=sys.stderr,
        )

    return show


def _print_lake_query(spec: str) -> None:
    """How to read the mirror of public.orders with DuckDB (its iceberg/delta extensions)."""
    fmt, _, location = spec.partition(":")
    location = location.partition("?")[0]
    if fmt == "iceberg":
        from arrowtail.sinks.lake.iceberg import load_catalog

        table = load_catalog(location).load_table(("public", "orders"))
        scan = f"iceberg_scan('{table.metadata_location}')"
    else:
        scan = f"delta_scan('{Path(location).resolve() / 'public.orders'}')"
    print(f"\n{fmt} tables: {location}")
    print(f"read the mirror with DuckDB (LOAD {fmt};):")
    print(f'  duckdb -c "LOAD {fmt}; SELECT status, count(*) FROM {scan} GROUP BY 1"')


def main(args: argparse.Namespace) -> int:
    from arrowtail.embedded import PostgresServer, ServerUnavailable
    from arrowtail.sinks import open_sink
    from arrowtail.sinks.parquet import ParquetSink
    from arrowtail.sources.postgres import admin as pg_admin
    from arrowtail.sources.postgres.source import PostgresSource
    from arrowtail.verify.compare import verify

    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        raise ConfigError(
            f"the demo needs a local PostgreSQL server ({exc}); install it with: "
            "sudo apt-get install -y postgresql"
        ) from None
    lake = getattr(args, "to", None)
    if lake is not None and not lake.startswith(("iceberg:", "delta:")):
        raise ConfigError(f"demo --to takes iceberg:DIR or delta:DIR, not {lake!r}")
    keep = args.out is not None or lake is not None
    out = (
        Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="arrowtail-demo-")) / "parquet"
    )
    print(f"starting a private PostgreSQL on 127.0.0.1:{server.port} ...", file=sys.stderr)
    try:
        server.start()
        with server.connect() as conn:
            _seed(conn, args.rows)
            conn.execute("CREATE PUBLICATION demo FOR ALL TABLES")
        source = PostgresSource(server.dsn, slot="demo", publication="demo", snapshot="initial")
        started = time.monotonic()
        errors: list[BaseException] = []
        writer = threading.Thread(target=_workload, args=(server.dsn, args.rows, errors))
        show = _progress(started)

        def on_progress(summary: Summary) -> None:
            # The first poll comes after the slot exists: from then on every change is captured,
            # by the snapshot or by the stream.
            if writer.ident is None:
                writer.start()
            show(summary)

        sink = open_sink(lake) if lake is not None else ParquetSink(out)
        pipeline = Pipeline(source, sink, idle_exit=3.0, on_progress=on_progress)
        summary = pipeline.run()
        if writer.ident is not None:
            writer.join()
        if sys.stderr.isatty():
            print(file=sys.stderr)
        if errors:
            raise SourceError(f"the demo workload failed: {errors[0]}")
        with pg_admin.connect(server.dsn) as conn:
            lag = pg_admin.lag(conn, "demo")
            report = verify(conn, lake or f"parquet:{out}")
        print(summary.render())
        print(f"slot lag after the run: {lag.get('lag_bytes', 0)} bytes")
        if lake is not None:
            print("the mirror tables against the source tables:")
            print("  " + report.summary().replace("\n", "\n  "))
            _print_lake_query(lake)
            return 0 if report.equal else 1
        print("replay of the Parquet files against the source tables:")
        print("  " + report.summary().replace("\n", "\n  "))
        print(
            f"\nParquet output: {out}"
            + ("" if keep else " (removed on exit; keep it with --out DIR)")
        )
        orders = f"{out}/public.orders"
        print("read it with DuckDB:")
        print(
            f"  duckdb -c \"SELECT _op, count(*) FROM read_parquet('{orders}/*.parquet', "
            'union_by_name=true) GROUP BY 1"'
        )
        print("or with pyarrow:")
        print(
            '  python -c "import pyarrow.dataset as ds; '
            f"print(ds.dataset('{orders}').to_table().num_rows)\""
        )
        return 0 if report.equal else 1
    finally:
        server.cleanup()
        if not keep:
            shutil.rmtree(out.parent, ignore_errors=True)
