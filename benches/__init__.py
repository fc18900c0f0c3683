"""Benchmarks of arrowtail against peer tools on the same machine (see benches/README.md)."""
