"""Failure kinds when no TLS server responds: nothing listening, a silent peer."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult, Pki
from tests.integration.calls import one_call_job, run_one


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Listen on 127.0.0.1 and never accept: the kernel completes TCP handshakes
    into the backlog, so clients connect and then wait for a TLS response."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_is_connection_failed(
    pki: Pki,
    closed_port: int,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    url = f"https://localhost:{closed_port}/health"
    _, record = run_one(run_cli, write_job, one_call_job(pki, url, identity="client"))
    error = record["error"]
    assert error["kind"] == "connection_failed"
    assert "listens on that address and port" in error["hint"]


def test_silent_peer_is_handshake_timeout(
    pki: Pki,
    silent_port: int,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    url = f"https://localhost:{silent_port}/health"
    text = one_call_job(pki, url, identity="client").replace(
        "timeout: 5s", "timeout: 1s"
    )
    _, record = run_one(run_cli, write_job, text)
    error = record["error"]
    assert error["kind"] == "timeout"
    assert "the TLS handshake did not finish" in error["message"]
    assert "serves TLS" in error["hint"]


def test_resolve_reaches_silent_peer_by_name(
    pki: Pki,
    silent_port: int,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    url = f"https://api.partner.test:{silent_port}/health"
    text = one_call_job(
        pki,
        url,
        identity="client",
        job_options=["resolve: {api.partner.test: 127.0.0.1}"],
    ).replace("timeout: 5s", "timeout: 1s")
    _, record = run_one(run_cli, write_job, text)
    assert record["error"]["kind"] == "timeout"


@pytest.mark.parametrize("setting", ["timeout", "connect_timeout"])
def test_short_limit_blames_the_limit(
    pki: Pki,
    silent_port: int,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    setting: str,
) -> None:
    url = f"https://localhost:{silent_port}/health"
    text = one_call_job(pki, url, identity="client", job_options=[f"{setting}: 1ms"])
    if setting == "timeout":
        text = text.replace("    timeout: 5s\n", "")
    _, record = run_one(run_cli, write_job, text)
    error = record["error"]
    assert error["kind"] == "timeout"
    assert f"({setting}: 1ms)" in error["message"]
    assert "may be too short" in error["hint"]
    assert "never answered" not in error["message"]
    assert "serves TLS" not in error["hint"]


def test_long_limit_blames_the_server(
    pki: Pki,
    silent_port: int,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    url = f"https://localhost:{silent_port}/health"
    text = one_call_job(pki, url, identity="client").replace(
        "timeout: 5s", "timeout: 1s"
    )
    _, record = run_one(run_cli, write_job, text)
    error = record["error"]
    assert "(timeout: 1s)" in error["message"]
    assert "may be too short" not in error["hint"]
