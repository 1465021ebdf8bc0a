"""Which failures are retried, how long the backoff waits, and the timer thread."""

from __future__ import annotations

import random
import threading

import pytest

from runner.errors import ErrorKind
from runner.execution.retry import Backoff, Timers, is_retryable
from runner.transport.classify import Failure
from runner.transport.request import Response


def failure(kind: ErrorKind) -> Failure:
    return Failure(kind, "message", "hint")


def completed(status: int) -> Response:
    return Response(status=status, timings_ms={"tls": 5.0})


def failed(curl_code: int, **timings: float) -> Response:
    return Response(curl_code=curl_code, timings_ms=dict(timings))


@pytest.mark.parametrize("status", [500, 502, 503, 599])
def test_server_errors_are_retried(status: int) -> None:
    assert is_retryable(completed(status), failure(ErrorKind.UNEXPECTED_RESPONSE))


@pytest.mark.parametrize("status", [200, 301, 400, 404, 429])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not is_retryable(completed(status), failure(ErrorKind.UNEXPECTED_RESPONSE))


@pytest.mark.parametrize("kind", [ErrorKind.CONNECTION_FAILED, ErrorKind.TLS_ERROR])
def test_connection_and_tls_errors_are_retried(kind: ErrorKind) -> None:
    assert is_retryable(failed(7), failure(kind))


@pytest.mark.parametrize(
    "kind",
    [
        ErrorKind.CLIENT_CERTIFICATE_REQUIRED,
        ErrorKind.CLIENT_CERTIFICATE_REJECTED,
        ErrorKind.SERVER_CERTIFICATE_UNTRUSTED,
        ErrorKind.HOSTNAME_MISMATCH,
        ErrorKind.UNEXPECTED_RESPONSE,
    ],
)
def test_certificate_problems_are_not_retried(kind: ErrorKind) -> None:
    assert not is_retryable(failed(35), failure(kind))


def test_timeout_before_handshake_is_retried() -> None:
    assert is_retryable(failed(28, connect=0.0, tls=0.0), failure(ErrorKind.TIMEOUT))


def test_timeout_after_handshake_is_not_retried() -> None:
    response = failed(28, connect=1.0, tls=3.0)
    assert not is_retryable(response, failure(ErrorKind.TIMEOUT))


def test_call_that_never_started_is_not_retried() -> None:
    assert not is_retryable(None, failure(ErrorKind.IDENTITY_INVALID))


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.25, 0.5), (3, 1, 2)])
def test_backoff_doubles_per_attempt(attempt: int, low: float, high: float) -> None:
    backoff = Backoff(base=0.5, rng=random.Random(3))
    delays = [backoff.delay(attempt) for _ in range(200)]
    assert low <= min(delays)
    assert max(delays) <= high


def test_backoff_is_capped() -> None:
    backoff = Backoff(base=0.5, maximum=4, rng=random.Random(3))
    assert backoff.delay(30) <= 4


def test_backoff_spreads_delays() -> None:
    backoff = Backoff(base=1, rng=random.Random(3))
    delays = [backoff.delay(2) for _ in range(200)]
    assert max(delays) - min(delays) > 0.8


def test_timers_run_callbacks_in_due_order() -> None:
    timers = Timers()
    order: list[str] = []
    done = threading.Event()
    timers.call_later(0.05, lambda: (order.append("late"), done.set()))
    timers.call_later(0.01, lambda: order.append("early"))
    assert done.wait(5)
    timers.close()
    assert order == ["early", "late"]


def test_timers_close_drops_waiting_callbacks() -> None:
    timers = Timers()
    ran: list[int] = []
    timers.call_later(60, lambda: ran.append(1))
    assert timers.close() == 1
    assert ran == []


def test_timers_reject_callbacks_after_close() -> None:
    timers = Timers()
    timers.close()
    assert not timers.call_later(0, lambda: None)
