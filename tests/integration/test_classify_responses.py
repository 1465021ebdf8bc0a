"""Invalid or cut-off HTTP responses after a completed TLS handshake.

A hostile server on 127.0.0.1 completes the handshake and sends a broken
response. Each must be unexpected_response naming libcurl's text, never
tls_error or connection_failed, with or without a client certificate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, Pki
from tests.hostile import Answer, HostileServer
from tests.integration.calls import one_call_job, run_one

BIG_HEADER = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (5 * 1024 * 1024) + b"\r\n"
MANY_HEADERS = b"HTTP/1.1 200 OK\r\n" + b"".join(
    b"X-H%d: v\r\n" % i for i in range(6000)
)
# name: (raw response, "invalid" or "cut off", a piece of libcurl's text)
CASES: dict[str, tuple[bytes, str, str]] = {
    "header too large": (
        BIG_HEADER + b"Content-Length: 2\r\n\r\nUP",
        "invalid",
        "CURLE_TOO_LARGE",
    ),
    "too many headers": (
        MANY_HEADERS + b"Content-Length: 2\r\n\r\nUP",
        "invalid",
        "Too many response headers",
    ),
    "header without colon": (
        b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nUP",
        "invalid",
        "Header without colon",
    ),
    "two content lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nUP",
        "invalid",
        "Content-Length",
    ),
    "no status line": (b"UP, but no HTTP at all", "invalid", "HTTP/0.9"),
    "body shorter than announced": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nUP",
        "cut off",
        "unexpected eof",
    ),
    "interim response then close": (
        b"HTTP/1.1 102 Processing\r\n\r\n",
        "cut off",
        "unexpected eof",
    ),
    "broken chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nUP\r\n",
        "invalid",
        "chunk",
    ),
}


@pytest.fixture
def hostile(pki: Pki) -> Iterator[Callable[..., HostileServer]]:
    """Start hostile servers with the test server certificate; stop them after."""
    started: list[HostileServer] = []

    def start(answer: Answer, **options: Any) -> HostileServer:
        server = HostileServer(
            pki.path("server-cert.pem"),
            pki.path("server-key.pem"),
            pki.ca.certificate_pem(),
            answer,
            **options,
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def call(
    pki: Pki,
    hostile: Callable[..., HostileServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> Callable[..., dict[str, Any]]:
    """Call a hostile server once and return the record's error."""

    def run(answer: Answer, identity: str | None, **options: Any) -> dict[str, Any]:
        server = hostile(answer, **options)
        text = one_call_job(pki, server.url("/x"), identity=identity)
        _, record = run_one(run_cli, write_job, text)
        error: dict[str, Any] = record["error"]
        return error

    return run


@pytest.mark.parametrize("identity", ["client", None])
@pytest.mark.parametrize("case", CASES)
def test_broken_response_is_unexpected(
    call: Callable[..., dict[str, Any]], case: str, identity: str | None
) -> None:
    answer, state, text = CASES[case]
    error = call(answer, identity)
    assert error["kind"] == "unexpected_response"
    assert f"the server's HTTP response was {state}" in error["message"]
    assert text in error["message"]
    assert "doctor" not in error["hint"]


def test_empty_reply_is_cut_off(call: Callable[..., dict[str, Any]]) -> None:
    error = call(b"", "client", close_notify=True)
    assert error["kind"] == "unexpected_response"
    assert "without sending any response" in error["message"]
    assert "Empty reply from server" in error["message"]


def test_empty_reply_without_identity_is_required(
    call: Callable[..., dict[str, Any]],
) -> None:
    error = call(b"", None, close_notify=True)
    assert error["kind"] == "client_certificate_required"


def test_valid_response_passes(call: Callable[..., dict[str, Any]]) -> None:
    error = call(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nUP", "client")
    assert error is None
