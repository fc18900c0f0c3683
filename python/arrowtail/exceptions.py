"""The exception hierarchy of arrowtail, defined once.

Every error of the Rust core maps to exactly one of these classes (see
``rust/arrowtail-python/src/error.rs``); the Python layers raise them too. Messages say what
happened, where (LSN, binlog file and offset, table, column) and what to do about it.
"""

from __future__ import annotations


class ArrowtailError(Exception):
    """Base class of every error arrowtail raises on purpose."""

    #: Exit code of the ``arrowtail`` command for this kind of error.
    exit_code: int = 2


class DecodeError(ArrowtailError):
    """Malformed, truncated or inconsistent input bytes; the message names the position."""


class UnsupportedTypeError(ArrowtailError):
    """A source type that has no Arrow mapping and no text form."""


class SchemaChangeError(ArrowtailError):
    """Rows that disagree with the schema known for their table."""


class SourceError(ArrowtailError):
    """The source database is unreachable, misconfigured or refuses what arrowtail needs."""

    exit_code = 3


class SinkError(ArrowtailError):
    """The sink could not store changes; nothing past the last stored position is acknowledged."""

    exit_code = 3


class ConfigError(ArrowtailError):
    """Invalid configuration or command-line usage."""


class InternalError(ArrowtailError):
    """A bug in arrowtail, not a problem of the input or the configuration: a panic of the Rust
    core or an Arrow array it could not assemble. The message names the call and says what went
    wrong; the decoder object it came from refuses further calls (create a new one)."""

    #: The exit code of unexpected errors.
    exit_code = 70


__all__ = [
    "ArrowtailError",
    "ConfigError",
    "DecodeError",
    "InternalError",
    "SchemaChangeError",
    "SinkError",
    "SourceError",
    "UnsupportedTypeError",
]
