"""What a MySQL/MariaDB error means for a retry, decided in this one place by its error number
(MySQL "Server Error Message Reference" and "Client Error Message Reference"; MariaDB uses the
same numbers for these).

Errors of the MySQL/MariaDB source that came from the server carry the errno, as decimal text,
as ``code``: PyMySQL's ``args[0]``, or the error packet of a binlog dump that the Rust decoder
raised as :class:`~arrowtail.exceptions.ServerError`. :func:`kind` turns the number into
:class:`~arrowtail.exceptions.SourceUnavailable` (a pause and another try may help) or
:class:`~arrowtail.exceptions.SourceRefused` (someone has to act); callers decide retries with
``isinstance`` on those kinds, never on message text.
"""

from __future__ import annotations

from arrowtail.exceptions import SourceError, SourceRefused, SourceUnavailable
from arrowtail.redact import scrub

#: ER_SERVER_SHUTDOWN: the server is shutting down (also sent to a binlog dump thread).
SERVER_SHUTDOWN = 1053
#: ER_MASTER_FATAL_ERROR_READING_BINLOG: the dump cannot go on, e.g. the binlog was purged.
FATAL_READING_BINLOG = 1236
#: ER_TABLE_DEF_CHANGED: a consistent read of a table rebuilt after the read view was made.
TABLE_DEF_CHANGED = 1412

#: Transient: too many connections (ER_CON_COUNT_ERROR 1040, ER_TOO_MANY_USER_CONNECTIONS
#: 1203), server shutdown (1053), lock wait timeout (1205), deadlock (1213), network errors of
#: the server (ER_NET_READ_ERROR .. ER_NET_WRITE_INTERRUPTED, 1158-1161), a killed query or
#: connection (ER_QUERY_INTERRUPTED 1317, MariaDB ER_CONNECTION_KILLED 1927), MySQL's
#: disconnect of an idle client (4031), and the client's own connection failures
#: (CR_CONNECTION_ERROR 2002, CR_CONN_HOST_ERROR 2003, CR_SERVER_GONE_ERROR 2006,
#: CR_SERVER_LOST 2013).
TRANSIENT = frozenset(
    {1040, 1203, SERVER_SHUTDOWN, 1205, 1213, 1158, 1159, 1160, 1161, 1317, 1927, 4031}
    | {2002, 2003, 2006, 2013}
)
#: Permanent: access denied (wrong password, ER_ACCESS_DENIED_ERROR 1045), a missing privilege
#: (ER_DBACCESS_DENIED_ERROR 1044, ER_TABLEACCESS_DENIED_ERROR 1142,
#: ER_COLUMNACCESS_DENIED_ERROR 1143, ER_SPECIFIC_ACCESS_DENIED_ERROR 1227), an unknown database
#: (ER_BAD_DB_ERROR 1049) or table (ER_NO_SUCH_TABLE 1146), a host blocked after too many
#: failed connects (ER_HOST_IS_BLOCKED 1129) or not allowed (ER_HOST_NOT_PRIVILEGED 1130), an
#: authentication method the client lacks (ER_NOT_SUPPORTED_AUTH_MODE 1251), and a binlog dump
#: the server cannot serve (1236: purged binlog, unknown GTID, ...).
REFUSED = frozenset({1045, 1044, 1142, 1143, 1227, 1049, 1146, 1129, 1130, 1251})
REFUSED |= {FATAL_READING_BINLOG}


def kind(code: int | str | None) -> type[SourceError]:
    """The kind of error a MySQL/MariaDB errno stands for: :class:`SourceUnavailable`,
    :class:`SourceRefused`, or plain :class:`SourceError` when the number says neither (or there
    is none)."""
    try:
        number = int(code) if code is not None else None
    except ValueError:
        return SourceError
    if number in TRANSIENT:
        return SourceUnavailable
    if number in REFUSED:
        return SourceRefused
    return SourceError


def code_of(exc: BaseException) -> str | None:
    """The errno an exception carries, as decimal text: arrowtail's ``code``, or the first
    argument of a PyMySQL error."""
    if isinstance(exc, SourceError):
        return exc.code
    import pymysql

    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return str(exc.args[0])
    return None


def kind_of(exc: BaseException) -> type[SourceError]:
    """The kind of ``exc``: an arrowtail kind it already has, the kind of its errno, or
    :class:`SourceUnavailable` for a connection that failed without one (an ``OSError``)."""
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


def is_refused(exc: BaseException) -> bool:
    """Whether retrying cannot help with ``exc`` (its kind is :class:`SourceRefused`)."""
    return kind_of(exc) is SourceRefused


def error(
    message: str, cause: BaseException | None = None, *, code: int | str | None = None
) -> SourceError:
    """A :class:`SourceError` of the right kind with ``message`` (scrubbed of secrets), and the
    errno of ``cause`` (or ``code``)."""
    if code is None and cause is not None:
        return kind_of(cause)(scrub(message), code=code_of(cause))
    text = None if code is None else str(code)
    return kind(text)(scrub(message), code=text)
