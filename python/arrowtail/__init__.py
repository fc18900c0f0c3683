"""arrowtail: change data capture from PostgreSQL and MySQL/MariaDB into Apache Arrow.

The Rust core (``arrowtail._core``) decodes replication streams into Arrow change batches; this
package runs the connections, snapshots, batching, checkpoints and sinks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arrowtail._core import BinlogDecoder, CopyDecoder, PgOutputDecoder, __version__
from arrowtail.exceptions import (
    ArrowtailError,
    ConfigError,
    DecodeError,
    InternalError,
    ReservedColumnError,
    SchemaChangeError,
    ServerError,
    SinkError,
    SourceError,
    SourceRefused,
    SourceUnavailable,
    UnsupportedTypeError,
)

if TYPE_CHECKING:
    from arrowtail.pipeline import Pipeline

__all__ = [
    "ArrowtailError",
    "BinlogDecoder",
    "ConfigError",
    "CopyDecoder",
    "DecodeError",
    "InternalError",
    "PgOutputDecoder",
    "Pipeline",
    "ReservedColumnError",
    "SchemaChangeError",
    "ServerError",
    "SinkError",
    "SourceError",
    "SourceRefused",
    "SourceUnavailable",
    "UnsupportedTypeError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Pipeline imports pyarrow and numpy; the command line sets up the process before that
    # (arrowtail.cli.main), and a command that never runs a pipeline does not pay for them.
    if name == "Pipeline":
        from arrowtail.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'arrowtail' has no attribute {name!r}")
