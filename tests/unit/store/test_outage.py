from __future__ import annotations

import logging

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from myrmica.store.outage import OutageLog, is_outage


def wrapped(cause: BaseException, outer: type[DBAPIError] = DBAPIError) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise outer("SELECT 1", {}, exc) from exc
    except BaseException as exc:
        return exc


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connection refused"),
    wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
    wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")),
    wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command")),
    wrapped(ConnectionResetError(104, "Connection reset by peer")),
])
def test_an_unreachable_database_is_an_outage(exc: BaseException) -> None:
    assert is_outage(exc)


@pytest.mark.parametrize("exc", [
    ValueError("bad"),
    wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key"), IntegrityError),
    wrapped(asyncpg.exceptions.UndefinedColumnError("column x does not exist")),
    KeyError("id"),
])
def test_a_wrong_statement_is_not_an_outage(exc: BaseException) -> None:
    assert not is_outage(exc)


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(logging.getLogger("test.outage"), "scheduling")
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        for _ in range(50):
            outage.failed(wrapped(ConnectionRefusedError(111, "Connection refused")))
        outage.ok()
        outage.ok()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "unreachable" in messages[0] and "answers again" in messages[1]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback for an outage


def test_a_real_error_is_logged_in_full_every_time(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(logging.getLogger("test.outage"), "scheduling")
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        outage.failed(ValueError("bad"))
        outage.failed(ValueError("bad"))
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]
    assert all(r.exc_info for r in caplog.records)
    assert not outage.down
