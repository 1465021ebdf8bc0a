"""What records show of secrets and of odd response headers, against real servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.hostile import HostileServer
from tests.integration.calls import one_call_job, run_one

TOKEN = "tok-5f2c9a7e1b"


@pytest.fixture
def call(
    pki: Pki, run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> Callable[..., dict[str, Any]]:
    """Call ``url`` once with an Authorization header from API_TOKEN."""

    def run(url: str) -> dict[str, Any]:
        text = one_call_job(
            pki,
            url,
            identity="client",
            job_options=['headers: {Authorization: "Bearer ${API_TOKEN}"}'],
        )
        _, record = run_one(run_cli, write_job, text)
        return record

    return run


@pytest.fixture
def hostile(pki: Pki) -> Iterator[Callable[[bytes], HostileServer]]:
    started: list[HostileServer] = []

    def start(answer: bytes) -> HostileServer:
        server = HostileServer(
            pki.path("server-cert.pem"),
            pki.path("server-key.pem"),
            pki.ca.certificate_pem(),
            answer,
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_echoed_secret_is_hidden_in_body(
    call: Callable[..., dict[str, Any]],
    mtls_server: Callable[..., MtlsServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    record = call(mtls_server().url("/echo"))
    assert "Bearer REDACTED" in record["body"]
    assert TOKEN not in record["body"]


def test_short_secret_keeps_url_intact(
    call: Callable[..., dict[str, Any]],
    mtls_server: Callable[..., MtlsServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", "1")
    url = mtls_server().url("/health", host="127.0.0.1")
    record = call(url)
    assert record["url"] == url
    assert record["ok"] is True


def test_response_headers_are_redacted(
    call: Callable[..., dict[str, Any]],
    hostile: Callable[[bytes], HostileServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    answer = (
        b"HTTP/1.1 302 Found\r\n"
        b"Location: https://user:PASSWORDINLOC@x.test/?token=SECRETQ\r\n"
        b"X-Echo: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    headers = call(hostile(answer).url("/x"))["response_headers"]
    assert headers["Location"] == "https://user:REDACTED@x.test/?token=REDACTED"
    assert headers["X-Echo"] == "Bearer REDACTED"


def test_repeated_cookies_collapse(
    call: Callable[..., dict[str, Any]],
    hostile: Callable[[bytes], HostileServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    cookies = b"".join(b"Set-Cookie: c%d=v\r\n" % i for i in range(3000))
    answer = b"HTTP/1.1 200 OK\r\n" + cookies + b"Content-Length: 2\r\n\r\nUP"
    headers = call(hostile(answer).url("/x"))["response_headers"]
    assert headers["Set-Cookie"] == "REDACTED (3000 values)"


def test_header_text_is_decoded(
    call: Callable[..., dict[str, Any]],
    hostile: Callable[[bytes], HostileServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    answer = (
        b"HTTP/1.1 200 OK\r\n"
        b"X-Utf8: Gr\xc3\xbc\xc3\x9fe\r\n"
        b"X-Latin1: Gr\xfc\xdfe\r\n"
        b"Content-Length: 2\r\n\r\nUP"
    )
    headers = call(hostile(answer).url("/x"))["response_headers"]
    assert headers["X-Utf8"] == "Grüße"
    assert headers["X-Latin1"] == "Grüße"
