"""arrowtail: change data capture from PostgreSQL and MySQL/MariaDB into Apache Arrow.

The Rust core (``arrowtail._core``) decodes replication streams into Arrow change batches; this
package runs the connections, snapshots, batching, checkpoints and sinks.
"""

from __future__ import annotations

from arrowtail._core import BinlogDecoder, CopyDecoder, PgOutputDecoder, __version__
from arrowtail.exceptions import (
    ArrowtailError,
    ConfigError,
    DecodeError,
    InternalError,
    SchemaChangeError,
    ServerError,
    SinkError,
    SourceError,
    SourceRefused,
    SourceUnavailable,
    UnsupportedTypeError,
)
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
    "SchemaChangeError",
    "ServerError",
    "SinkError",
    "SourceError",
    "SourceRefused",
    "SourceUnavailable",
    "UnsupportedTypeError",
    "__version__",
]
