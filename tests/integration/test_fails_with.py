"""``expect: {fails_with: KIND}`` against real servers: a call passes only when it
fails with that kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.integration.calls import one_call_job, run_one
from tests.nginx import NginxServer

REQUIRED = "{fails_with: client_certificate_required}"


@pytest.fixture
def server_url(mtls_server: Callable[..., MtlsServer]) -> str:
    return mtls_server(tls_version="1.3").url("/health")


def test_no_certificate_meets_required(
    pki: Pki,
    server_url: str,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    result, record = run_one(
        run_cli, write_job, one_call_job(pki, server_url, expect=REQUIRED)
    )
    assert record["ok"] is True
    assert record["error"]["kind"] == "client_certificate_required"
    assert result.code == 0


def test_console_says_failed_as_expected(
    pki: Pki,
    server_url: str,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    result, _ = run_one(
        run_cli, write_job, one_call_job(pki, server_url, expect=REQUIRED)
    )
    assert "failed as expected: client_certificate_required" in result.stderr


def test_successful_call_misses_required(
    pki: Pki,
    server_url: str,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    text = one_call_job(pki, server_url, identity="client", expect=REQUIRED)
    result, record = run_one(run_cli, write_job, text)
    assert record["ok"] is False
    assert record["error"]["kind"] == "unexpected_response"
    assert "completed with status 200" in record["error"]["message"]
    assert "the server accepted the call" in record["error"]["hint"]
    assert result.code == 1


def test_other_kind_misses_required(
    pki: Pki,
    server_url: str,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    text = one_call_job(pki, server_url, identity="client-foreign", expect=REQUIRED)
    result, record = run_one(run_cli, write_job, text)
    assert record["ok"] is False
    assert record["error"]["kind"] == "client_certificate_rejected"
    assert (
        "expected the call to fail with client_certificate_required"
        in (record["error"]["message"])
    )
    assert result.code == 1


def test_foreign_certificate_meets_rejected(
    pki: Pki,
    server_url: str,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    text = one_call_job(
        pki,
        server_url,
        identity="client-foreign",
        expect="{fails_with: client_certificate_rejected}",
    )
    result, record = run_one(run_cli, write_job, text)
    assert record["ok"] is True
    assert result.code == 0


@pytest.mark.nginx
def test_nginx_no_certificate_meets_required(
    pki: Pki,
    nginx: Callable[..., NginxServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    url = nginx().url("/health")
    result, record = run_one(
        run_cli, write_job, one_call_job(pki, url, expect=REQUIRED)
    )
    assert record["ok"] is True
    assert record["status"] == 400
    assert result.code == 0


def test_unknown_kind_is_config_error(
    pki: Pki,
    server_url: str,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    text = one_call_job(pki, server_url, expect="{fails_with: certificate_missing}")
    result = run_cli("run", "--once", str(write_job(text)))
    assert result.code == 2
    assert "client_certificate_required" in result.stderr
