"""Source errors carry the server's code, and each source decides from that code alone whether
retrying can help: SourceUnavailable (transient) or SourceRefused (permanent)."""

from __future__ import annotations

import pymysql
import pytest

import arrowtail
from arrowtail import _core
from arrowtail.exceptions import SourceError, SourceRefused, SourceUnavailable
from arrowtail.sources.mysql import errors as mysql_errors
from arrowtail.sources.postgres import errors as pg_errors


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [
        ("55006", SourceUnavailable),  # replication slot is active for another PID
        ("53300", SourceUnavailable),  # too many connections
        ("57P01", SourceUnavailable),  # admin shutdown
        ("57P03", SourceUnavailable),  # the database system is starting up
        ("08006", SourceUnavailable),  # connection failure
        ("55P03", SourceUnavailable),  # lock not available
        ("40P01", SourceUnavailable),  # deadlock
        ("28P01", SourceRefused),  # wrong password
        ("28000", SourceRefused),  # no pg_hba.conf entry
        ("42501", SourceRefused),  # insufficient privilege
        ("3D000", SourceRefused),  # unknown database
        ("42704", SourceRefused),  # replication slot does not exist
        ("55000", SourceRefused),  # wal_level is not logical
        ("XX000", SourceError),  # internal error of the server: no decision
        (None, SourceError),
    ],
)
def test_postgres_sqlstates_map_to_kinds(sqlstate: str | None, kind: type[SourceError]) -> None:
    assert pg_errors.kind(sqlstate) is kind
    err = pg_errors.error("postgres said no", code=sqlstate)
    assert type(err) is kind
    assert err.code == sqlstate
    assert str(err) == "postgres said no"


def test_postgres_error_response_has_its_kind_and_stays_a_pg_server_error() -> None:
    busy = pg_errors.server_error(
        {
            "severity": "ERROR",
            "code": "55006",
            "message": 'replication slot "s" is active for PID 7',
        }
    )
    assert isinstance(busy, SourceUnavailable)
    assert isinstance(busy, pg_errors.PgServerError)
    assert pg_errors.slot_in_use(busy)
    assert not pg_errors.is_refused(busy)
    wrong = pg_errors.server_error({"severity": "FATAL", "code": "28P01", "message": "bad"})
    assert isinstance(wrong, SourceRefused)
    assert pg_errors.is_refused(wrong)
    assert not pg_errors.slot_in_use(wrong)
    other = pg_errors.server_error({"severity": "ERROR", "code": "XX000", "message": "?"})
    assert type(other) is pg_errors.PgServerError
    assert other.code == "XX000"


def test_postgres_kind_of_reads_psycopg_sqlstate_and_wraps_keep_the_kind() -> None:
    import psycopg

    class FakeBusy(psycopg.errors.ObjectInUse):
        pass

    exc = FakeBusy("slot active")
    assert pg_errors.code_of(exc) == "55006"
    assert pg_errors.slot_in_use(exc)
    # A connection that failed without a server error is transient.
    assert pg_errors.kind_of(ConnectionRefusedError()) is SourceUnavailable
    # libpq reports connection failures without a SQLSTATE: no decision from text.
    assert pg_errors.kind_of(psycopg.OperationalError("refused")) is SourceError
    # Re-raising with a new message keeps the code and the kind.
    wrapped = pg_errors.error(
        "START_REPLICATION failed: x", pg_errors.server_error({"code": "55006"})
    )
    assert type(wrapped) is SourceUnavailable
    assert wrapped.code == "55006"
    assert pg_errors.kind_of(SourceError("no code")) is SourceError


@pytest.mark.parametrize(
    ("errno", "kind"),
    [
        (1040, SourceUnavailable),  # too many connections
        (1053, SourceUnavailable),  # server shutdown in progress
        (1205, SourceUnavailable),  # lock wait timeout
        (2003, SourceUnavailable),  # cannot connect (refused)
        (2013, SourceUnavailable),  # lost connection during query
        (1045, SourceRefused),  # access denied
        (1227, SourceRefused),  # missing privilege
        (1049, SourceRefused),  # unknown database
        (1236, SourceRefused),  # binlog purged / fatal error reading the binlog
        (1064, SourceError),  # syntax error: no decision
        (None, SourceError),
    ],
)
def test_mysql_errnos_map_to_kinds(errno: int | None, kind: type[SourceError]) -> None:
    assert mysql_errors.kind(errno) is kind
    assert mysql_errors.kind(None if errno is None else str(errno)) is kind
    err = mysql_errors.error("mysql said no", code=errno)
    assert type(err) is kind
    assert err.code == (None if errno is None else str(errno))


def test_mysql_kind_of_reads_pymysql_errno() -> None:
    refused = pymysql.err.OperationalError(1045, "Access denied for user 'u'")
    assert mysql_errors.code_of(refused) == "1045"
    assert mysql_errors.is_refused(refused)
    lost = pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
    assert mysql_errors.kind_of(lost) is SourceUnavailable
    made = mysql_errors.error("cannot connect: (2003) refused", lost)
    assert type(made) is SourceUnavailable
    assert made.code == "2013"
    assert mysql_errors.kind_of(BrokenPipeError()) is SourceUnavailable
    assert mysql_errors.kind_of(ValueError()) is SourceError


def test_kinds_are_source_errors_with_exit_code_3() -> None:
    for cls in (SourceUnavailable, SourceRefused, arrowtail.ServerError):
        assert issubclass(cls, arrowtail.SourceError)
        assert cls.exit_code == 3
    assert SourceError("x").code is None


def _error_packet(errno: int, state: bytes, message: bytes) -> bytes:
    """A MySQL ERR packet as a binlog dump sends it (3-byte length, sequence id, payload)."""
    payload = b"\xff" + errno.to_bytes(2, "little") + b"#" + state + message
    return len(payload).to_bytes(3, "little") + b"\x01" + payload


def test_binlog_error_packet_carries_its_errno() -> None:
    decoder = _core.BinlogDecoder()
    packet = _error_packet(1236, b"HY000", b"Could not find first log file name in binary log")
    with pytest.raises(arrowtail.ServerError) as info:
        decoder.feed(packet)
    err = info.value
    assert err.code == "1236"
    # Still what callers of the decoder have always caught.
    assert isinstance(err, arrowtail.DecodeError)
    assert "the server sent error 1236: (HY000) Could not find first log file" in str(err)
    assert mysql_errors.kind_of(err) is SourceRefused


def test_binlog_shutdown_packet_is_transient() -> None:
    with pytest.raises(arrowtail.ServerError) as info:
        _core.BinlogDecoder().feed(_error_packet(1053, b"08S01", b"Server shutdown in progress"))
    assert info.value.code == "1053"
    assert mysql_errors.kind_of(info.value) is SourceUnavailable


def test_core_server_error_maps_to_server_error_with_code() -> None:
    with pytest.raises(arrowtail.ServerError, match="detail-text") as info:
        _core._raise_core_error("server", "detail-text")
    assert info.value.code == "1236"
