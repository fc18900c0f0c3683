"""``arrowtail`` with its PostgreSQL snapshot planner cutting keyed tables into key ranges, as it
does on a server before PostgreSQL 14: ``python -m benches.key_ranges run ...`` takes the
arguments of ``arrowtail``. For comparing the two cuts of a keyed table on one server."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # As arrowtail's own entry point does before anything imports numpy.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from arrowtail import cli
    from arrowtail.sources.postgres import parallel

    parallel.TID_RANGES_SINCE = 10**9
    sys.exit(cli.main(sys.argv[1:]))
