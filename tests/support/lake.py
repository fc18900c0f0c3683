"""Reading Iceberg and Delta Lake tables back with DuckDB in the lake sink tests: the extensions
come from their PyPI packages (``duckdb_extension_avro``, ``_iceberg``, ``_delta``), so nothing is
downloaded at test time."""

from __future__ import annotations

import glob
import os


def load_duckdb_extensions(con) -> None:
    """DuckDB's avro, iceberg and delta extensions from their PyPI packages (no download)."""
    import importlib

    for name in ("avro", "iceberg", "delta"):
        module = importlib.import_module(f"duckdb_extension_{name}")
        files = glob.glob(os.path.join(os.path.dirname(module.__file__), "extensions", "*", "*"))
        assert files, f"duckdb_extension_{name} ships no extension file"
        con.execute(f"LOAD '{files[0]}'")
