"""``mtls-runner doctor`` against real servers: the checklist and the final fix."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.hostile import HostileServer
from tests.integration.calls import one_call_job
from tests.nginx import NginxServer

ROOT = "CN=test root CA,O=mtls-runner"
INTERMEDIATE = "CN=test intermediate CA,O=mtls-runner"
FOREIGN = "CN=foreign root CA,O=mtls-runner"


@pytest.fixture
def doctor(
    pki: Pki, run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> Callable[..., CliResult]:
    """Run doctor on a one-endpoint job for ``url``."""

    def run(url: str, **job: Any) -> CliResult:
        return run_cli("doctor", str(write_job(one_call_job(pki, url, **job))))

    return run


@pytest.fixture
def python_url(mtls_server: Callable[..., MtlsServer]) -> Callable[..., str]:
    def start(server: str = "server", tls_version: str = "1.3") -> str:
        return mtls_server(server, tls_version=tls_version).url("/health")

    return start


@pytest.fixture
def nginx_url(pki: Pki, nginx: Callable[..., NginxServer]) -> Callable[..., str]:
    """Start nginx that names only the test root CA as acceptable for clients."""

    def start(**options: Any) -> str:
        options.setdefault("client_ca", pki.path("ca.pem"))
        return nginx(**options).url("/health")

    return start


def fix_line(result: CliResult) -> str:
    return next(line for line in result.stdout.splitlines() if "  fix: " in line)


def test_valid_identity_passes(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url(), identity="client")
    assert result.code == 0
    assert "[ ok ] truststore 'private' accepts the server's chain" in result.stdout
    assert "[ ok ] the server asks for a client certificate" in result.stdout
    assert "fix: nothing to fix" in result.stdout


def test_lists_accepted_versions(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url(tls_version="1.2"), identity="client")
    assert "[ ok ] TLS 1.2 accepted" in result.stdout
    assert "[info] TLS 1.3 not accepted" in result.stdout


def test_lists_server_chain(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url(), identity="client")
    assert "server chain (2 certificates)" in result.stdout
    assert f"issuer {ROOT}; names localhost, 127.0.0.1" in result.stdout


@pytest.mark.nginx
def test_reports_acceptable_ca_names(
    doctor: Callable[..., CliResult], nginx_url: Callable[..., str], pki: Pki
) -> None:
    url = nginx_url(client_ca=pki.path("ca-and-intermediate.pem"))
    result = doctor(url, identity="client")
    lines = result.stdout.splitlines()
    start = lines.index(
        "  [ ok ] the server asks for a client certificate from these CAs:"
    )
    assert lines[start + 1].strip() == ROOT
    assert lines[start + 2].strip() == INTERMEDIATE
    assert f"chains to {ROOT}, which the server names" in result.stdout


@pytest.mark.nginx
def test_reports_foreign_ca_mismatch(
    doctor: Callable[..., CliResult], nginx_url: Callable[..., str]
) -> None:
    result = doctor(nginx_url(), identity="client-foreign")
    assert result.code == 1
    assert (
        f"[FAIL] the chain of identity 'me' leads to {FOREIGN}, which is not among "
        f"the CAs the server accepts: {ROOT}"
    ) in result.stdout
    assert "failed: client_certificate_rejected" in result.stdout
    assert "issued by one of those CAs" in fix_line(result)


@pytest.mark.nginx
def test_reports_missing_intermediate(
    doctor: Callable[..., CliResult], nginx_url: Callable[..., str]
) -> None:
    result = doctor(nginx_url(), identity="client-via-intermediate")
    assert f"leads to {INTERMEDIATE}, which is not among" in result.stdout
    assert "'chain:'" in fix_line(result)


@pytest.mark.nginx
def test_intermediate_in_chain_passes(
    doctor: Callable[..., CliResult], nginx_url: Callable[..., str]
) -> None:
    result = doctor(
        nginx_url(), identity="client-via-intermediate", chain=["intermediate.pem"]
    )
    assert result.code == 0
    assert f"chains to {ROOT}, which the server names" in result.stdout


@pytest.mark.nginx
def test_nginx_no_identity(
    doctor: Callable[..., CliResult], nginx_url: Callable[..., str]
) -> None:
    result = doctor(nginx_url())
    assert "[FAIL] the job sends no client certificate" in result.stdout
    assert "failed: client_certificate_required" in result.stdout
    assert "'identity: NAME'" in fix_line(result)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_python_no_identity(
    doctor: Callable[..., CliResult], python_url: Callable[..., str], version: str
) -> None:
    result = doctor(python_url(tls_version=version))
    assert "failed: client_certificate_required" in result.stdout
    assert "'identity: NAME'" in fix_line(result)


def test_expired_identity(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url(), identity="client-expired")
    assert "[FAIL] the certificate of identity 'me' expired on" in result.stdout
    assert "renewed certificate" in fix_line(result)


def test_not_yet_valid_identity(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url(), identity="client-not-yet-valid")
    assert "is not valid before" in result.stdout
    assert "clock" in fix_line(result)


def test_server_auth_only_identity(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url(), identity="client-server-only")
    assert "is not allowed for client authentication" in result.stdout
    assert "clientAuth" in fix_line(result)


def test_untrusted_server(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url("server_untrusted"), identity="client")
    assert "[FAIL] truststore 'private' rejects the server's chain" in result.stdout
    assert FOREIGN in fix_line(result)


def test_wrong_server_name(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url("server_wrong_name"), identity="client")
    assert (
        "[FAIL] the server's certificate is not valid for localhost: it names "
        "elsewhere.test"
    ) in result.stdout
    assert "'resolve'" in fix_line(result)


@pytest.fixture
def silent_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_nothing_listening(doctor: Callable[..., CliResult]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = doctor(f"https://127.0.0.1:{port}/health", identity="client")
    assert f"[FAIL] TCP connection to 127.0.0.1:{port}" in result.stdout
    assert "failed: connection_failed" in result.stdout


def test_silent_peer(doctor: Callable[..., CliResult], silent_port: int) -> None:
    result = doctor(
        f"https://127.0.0.1:{silent_port}/health",
        identity="client",
        job_options=["connect_timeout: 1s"],
    )
    assert "[FAIL] TLS 1.3 not accepted: the server sent no TLS answer" in (
        result.stdout
    )
    assert "failed: timeout" in result.stdout
    assert "serves TLS" in fix_line(result)


def test_probe_follows_resolve(
    doctor: Callable[..., CliResult], mtls_server: Callable[..., MtlsServer]
) -> None:
    server = mtls_server()
    result = doctor(
        server.url("/health", host="api.partner.test"),
        identity="client",
        job_options=["resolve: {api.partner.test: 127.0.0.1}"],
    )
    assert (
        f"TCP connection to 127.0.0.1:{server.port} (api.partner.test via 'resolve')"
    ) in result.stdout
    assert "not valid for api.partner.test" in result.stdout


def test_job_option_selects_job(
    pki: Pki,
    python_url: Callable[..., str],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    text = one_call_job(pki, python_url(), identity="client")
    first = write_job(text, "a.yaml")
    # Identities and truststores share one namespace per run, so the second
    # file holds only a job that uses those of the first.
    jobs = text.split("jobs:\n", 1)[1].replace("  probe:", "  other:")
    second = write_job("version: 1\njobs:\n" + jobs, "b.yaml")
    result = run_cli("doctor", "--job", "other", str(first), str(second))
    assert "job 'other'" in result.stdout
    assert "job 'probe'" not in result.stdout


def test_unknown_job_is_usage_error(
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    path = write_job(one_call_job(pki, "https://localhost:1/", identity="client"))
    result = run_cli("doctor", "--job", "missing", str(path))
    assert result.code == 2
    assert "no job named missing" in result.stderr


# --- expected failures (fails_with) ---------------------------------------------

REQUIRED = "{fails_with: client_certificate_required}"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_expected_missing_certificate_agrees(
    doctor: Callable[..., CliResult], python_url: Callable[..., str], version: str
) -> None:
    result = doctor(python_url(tls_version=version), expect=REQUIRED)
    assert "[FAIL]" not in result.stdout
    assert "no 'identity'), as the endpoint expects" in result.stdout
    assert "nothing to fix" in fix_line(result)
    assert result.code == 0


def test_unexpected_missing_certificate_fails(
    doctor: Callable[..., CliResult], python_url: Callable[..., str]
) -> None:
    result = doctor(python_url())
    assert "[FAIL] the job sends no client certificate" in result.stdout
    assert result.code == 1


def test_error_page_is_not_acceptance(
    doctor: Callable[..., CliResult], pki: Pki
) -> None:
    page = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nneed cert"
    server = HostileServer(
        pki.path("server-cert.pem"),
        pki.path("server-key.pem"),
        pki.ca.certificate_pem(),
        page,
    ).start()
    try:
        result = doctor(server.url("/health"), identity="client", expect=REQUIRED)
    finally:
        server.stop()
    fix = fix_line(result)
    assert "rejected the call with HTTP 403" in fix
    assert "expect 'status: 403'" in fix
    assert "accepted" not in fix
    assert result.code == 1
