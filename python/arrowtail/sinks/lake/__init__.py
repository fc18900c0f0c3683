"""Lakehouse table sinks: Iceberg (pyiceberg) and Delta Lake (delta-rs), as a mirror of the
source tables or as a change log; shared logic in :mod:`arrowtail.sinks.lake.base`."""
