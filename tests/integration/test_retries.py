"""``retries`` in run --once: which failures get more attempts, one record each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.nginx import free_port


def job_text(pki: Pki, url: str, retries: int, identity: bool = True) -> str:
    lines = [
        "version: 1",
        "identities:",
        "  client:",
        f"    certificate: {pki.path('client-cert.pem')}",
        f"    key: {pki.path('client-key.pem')}",
        "truststores:",
        f"  test-ca: {{certificates: [{pki.path('ca.pem')}]}}",
        "jobs:",
        "  probe:",
        "    truststore: test-ca",
        f"    retries: {retries}",
        "    timeout: 5s",
        *(["    identity: client"] if identity else []),
        "    endpoints:",
        f"      - url: {url}",
    ]
    return "\n".join(lines) + "\n"


def run(
    run_cli: Callable[..., CliResult], write_job: Callable[..., Path], text: str
) -> CliResult:
    return run_cli("run", "--once", "--json", str(write_job(text)))


def test_server_error_is_retried_with_attempt_numbers(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    result = run(run_cli, write_job, job_text(pki, server.url("/status/503"), 2))
    assert [r["attempt"] for r in result.records] == [1, 2, 3]


def test_every_attempt_records_its_status(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    result = run(run_cli, write_job, job_text(pki, server.url("/status/503"), 1))
    assert [r["status"] for r in result.records] == [503, 503]
    assert result.code == 1


def test_client_error_is_not_retried(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    result = run(run_cli, write_job, job_text(pki, server.url("/status/404"), 2))
    assert [r["attempt"] for r in result.records] == [1]


def test_success_is_not_retried(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    result = run(run_cli, write_job, job_text(pki, server.url("/health"), 2))
    assert [r["attempt"] for r in result.records] == [1]
    assert result.code == 0


def test_refused_connection_is_retried(
    pki: Pki, run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> None:
    url = f"https://localhost:{free_port()}/health"
    result = run(run_cli, write_job, job_text(pki, url, 1))
    assert [r["error"]["kind"] for r in result.records] == [
        "connection_failed",
        "connection_failed",
    ]


def test_missing_client_certificate_is_not_retried(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    text = job_text(pki, server.url("/health"), 2, identity=False)
    result = run(run_cli, write_job, text)
    assert [r["error"]["kind"] for r in result.records] == [
        "client_certificate_required"
    ]


def test_retry_is_logged(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    result = run(run_cli, write_job, job_text(pki, server.url("/status/500"), 1))
    assert "retrying probe/GET /status/500 in " in result.stderr
