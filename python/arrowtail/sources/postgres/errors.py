"""What a PostgreSQL error means for a retry, decided in this one place by its SQLSTATE
(PostgreSQL docs, Appendix A "PostgreSQL Error Codes").

Every error of the PostgreSQL source that came from the server carries its SQLSTATE as ``code``;
:func:`kind` turns that code into :class:`~arrowtail.exceptions.SourceUnavailable` (a pause and
another try may help) or :class:`~arrowtail.exceptions.SourceRefused` (someone has to act), and
:func:`error` builds the typed exception for a message. Callers decide retries with
``isinstance`` on those kinds, never on message text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arrowtail.exceptions import SourceError, SourceRefused, SourceUnavailable
from arrowtail.redact import scrub

if TYPE_CHECKING:
    import psycopg

#: object_in_use: e.g. "replication slot ... is active for PID ...", held by the walsender of a
#: run that just died until the server notices the closed connection.
OBJECT_IN_USE = "55006"
#: undefined_table and undefined_column: met by a statement of an initial snapshot when DDL
#: dropped or renamed the table or column after the snapshot was taken.
UNDEFINED_TABLE = "42P01"
UNDEFINED_COLUMN = "42703"

#: SQLSTATE classes that are transient as a whole: 08 connection exception, 40 transaction
#: rollback (serialization failure, deadlock), 53 insufficient resources (too many connections
#: 53300, out of memory, disk full).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53"})
#: Single transient codes: object_in_use, lock_not_available, admin_shutdown, crash_shutdown,
#: cannot_connect_now (starting up or shutting down), idle_session_timeout.
_TRANSIENT_CODES = frozenset({OBJECT_IN_USE, "55P03", "57P01", "57P02", "57P03", "57P05"})
#: SQLSTATE classes that are permanent as a whole: 28 invalid authorization (28P01 wrong
#: password), 3D invalid catalog name (unknown database), 42 syntax error or access rule
#: violation (42501 insufficient privilege, 42704 undefined object such as a missing slot or
#: publication), 0A feature not supported, 55 object not in prerequisite state (wal_level).
_REFUSED_CLASSES = frozenset({"28", "3D", "42", "0A", "55"})


def kind(code: str | None) -> type[SourceError]:
    """The kind of error a SQLSTATE stands for: :class:`SourceUnavailable`,
    :class:`SourceRefused`, or plain :class:`SourceError` when the code says neither (or there
    is none)."""
    if not code:
        return SourceError
    if code in _TRANSIENT_CODES or code[:2] in _TRANSIENT_CLASSES:
        return SourceUnavailable
    if code[:2] in _REFUSED_CLASSES:
        return SourceRefused
    return SourceError


def code_of(exc: BaseException) -> str | None:
    """The SQLSTATE an exception carries: arrowtail's ``code``, psycopg's ``sqlstate``."""
    code = getattr(exc, "code", None) if isinstance(exc, SourceError) else None
    if code is None:
        code = getattr(exc, "sqlstate", None)
    return code if isinstance(code, str) and code else None


def kind_of(exc: BaseException) -> type[SourceError]:
    """The kind of ``exc``: an arrowtail kind it already has, the kind of its SQLSTATE, or
    :class:`SourceUnavailable` for a socket that failed (an ``OSError``: refused, reset). A
    psycopg connection failure carries no SQLSTATE (libpq reports a wrong password and a
    refused connection alike, as text), so it stays undecided: plain :class:`SourceError`."""
    if isinstance(exc, SourceUnavailable):
        return SourceUnavailable
    if isinstance(exc, SourceRefused):
        return SourceRefused
    code = code_of(exc)
    if code is not None:
        return kind(code)
    if isinstance(exc, OSError):
        return SourceUnavailable
    return SourceError


def error(
    message: str, cause: BaseException | None = None, *, code: str | None = None
) -> SourceError:
    """A :class:`SourceError` of the right kind with ``message`` (scrubbed of secrets), and the
    SQLSTATE of ``cause`` (or ``code``)."""
    if code is None and cause is not None:
        return kind_of(cause)(scrub(message), code=code_of(cause))
    return kind(code)(scrub(message), code=code)


def is_refused(exc: BaseException) -> bool:
    """Whether retrying cannot help with ``exc`` (its kind is :class:`SourceRefused`)."""
    return kind_of(exc) is SourceRefused


def slot_in_use(exc: BaseException) -> bool:
    """Whether ``exc`` says a replication slot is held by another process (SQLSTATE 55006)."""
    return code_of(exc) == OBJECT_IN_USE


class PgServerError(SourceError):
    """An ErrorResponse of the server: ``fields`` holds severity, code (SQLSTATE), message,
    detail and hint. Built by :func:`server_error`, which gives it its kind."""

    def __init__(self, fields: dict[str, str]) -> None:
        text = f"{fields.get('severity', 'ERROR')}: {fields.get('message', '')}"
        code = fields.get("code", "")
        if code:
            text += f" (SQLSTATE {code})"
        for key in ("detail", "hint"):
            if fields.get(key):
                text += f"; {key.upper()}: {fields[key]}"
        super().__init__(scrub(text), code=code)
        self.fields = fields


class PgServerUnavailable(PgServerError, SourceUnavailable):
    """An ErrorResponse whose SQLSTATE is transient."""


class PgServerRefused(PgServerError, SourceRefused):
    """An ErrorResponse whose SQLSTATE is permanent."""


def server_error(fields: dict[str, str]) -> PgServerError:
    """The exception for an ErrorResponse's fields, of the kind its SQLSTATE stands for."""
    cls = kind(fields.get("code"))
    if cls is SourceUnavailable:
        return PgServerUnavailable(fields)
    if cls is SourceRefused:
        return PgServerRefused(fields)
    return PgServerError(fields)


def libpq_error(message: str, pgconn: psycopg.pq.abc.PGconn, result: object = None) -> SourceError:
    """The typed error for a failed libpq exchange: the SQLSTATE of ``result`` when the server
    sent one, else a connection failure (:class:`SourceUnavailable`) when the connection is
    gone."""
    from psycopg import pq

    code = None
    if result is not None:
        raw = result.error_field(pq.DiagnosticField.SQLSTATE)  # type: ignore[attr-defined]
        code = raw.decode() if raw else None
    if code is None and pgconn.status == pq.ConnStatus.BAD:
        return SourceUnavailable(scrub(message))
    return error(message, code=code)
