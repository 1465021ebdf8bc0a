"""Failure kinds against a real nginx, which refuses over HTTP after the handshake.

nginx with ssl_verify_client finishes every handshake and responds with 400 with a page
naming the problem, so libcurl sees a completed transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, Pki
from tests.integration.calls import one_call_job, run_one
from tests.nginx import NginxServer

pytestmark = pytest.mark.nginx
PROTOCOLS = ["TLSv1.2", "TLSv1.3"]


@pytest.fixture
def call(
    pki: Pki,
    nginx: Callable[..., NginxServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> Callable[..., dict[str, Any]]:
    """Start nginx trusting only the test root CA for clients; return one record."""

    def run(protocols: str, **job: Any) -> dict[str, Any]:
        server = nginx(protocols=protocols, client_ca=pki.path("ca.pem"))
        _, record = run_one(
            run_cli, write_job, one_call_job(pki, server.url("/health"), **job)
        )
        return record

    return run


@pytest.mark.parametrize("protocols", PROTOCOLS)
def test_valid_identity_succeeds(
    call: Callable[..., dict[str, Any]], protocols: str
) -> None:
    record = call(protocols, identity="client")
    assert record["error"] is None
    assert record["body"] == "UP\n"


@pytest.mark.parametrize("protocols", PROTOCOLS)
def test_no_identity_is_required(
    call: Callable[..., dict[str, Any]], protocols: str
) -> None:
    error = call(protocols)["error"]
    assert error["kind"] == "client_certificate_required"
    assert "No required SSL certificate was sent" in error["message"]
    assert "'identity: NAME'" in error["hint"]


@pytest.mark.parametrize("protocols", PROTOCOLS)
def test_expired_identity_is_rejected(
    call: Callable[..., dict[str, Any]], protocols: str
) -> None:
    error = call(protocols, identity="client-expired")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "expired on" in error["message"]
    assert "renewed certificate" in error["hint"]


@pytest.mark.parametrize("protocols", PROTOCOLS)
def test_not_yet_valid_identity_is_rejected(
    call: Callable[..., dict[str, Any]], protocols: str
) -> None:
    error = call(protocols, identity="client-not-yet-valid")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "clock" in error["hint"]


@pytest.mark.parametrize("protocols", PROTOCOLS)
def test_server_auth_only_identity_is_rejected(
    call: Callable[..., dict[str, Any]], protocols: str
) -> None:
    error = call(protocols, identity="client-server-only")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "clientAuth" in error["hint"]


@pytest.mark.parametrize("protocols", PROTOCOLS)
def test_foreign_identity_is_rejected(
    call: Callable[..., dict[str, Any]], protocols: str
) -> None:
    error = call(protocols, identity="client-foreign")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "The SSL certificate error" in error["message"]
    assert "CN=foreign root CA" in error["hint"]


@pytest.mark.parametrize("protocols", PROTOCOLS)
def test_missing_intermediate_is_rejected(
    call: Callable[..., dict[str, Any]], protocols: str
) -> None:
    error = call(protocols, identity="client-via-intermediate")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "'chain:'" in error["hint"]


@pytest.mark.parametrize("protocols", PROTOCOLS)
def test_intermediate_in_chain_succeeds(
    call: Callable[..., dict[str, Any]], protocols: str
) -> None:
    record = call(
        protocols, identity="client-via-intermediate", chain=["intermediate.pem"]
    )
    assert record["error"] is None


def test_wrong_server_name_is_hostname_mismatch(
    pki: Pki,
    nginx: Callable[..., NginxServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = nginx(
        certificate=pki.path("server-wrong-name-cert.pem"),
        key=pki.path("server-wrong-name-key.pem"),
    )
    text = one_call_job(pki, server.url("/health"), identity="client")
    error = run_one(run_cli, write_job, text)[1]["error"]
    assert error["kind"] == "hostname_mismatch"
    assert "elsewhere.test" in error["hint"]


def test_untrusted_server_is_untrusted(
    pki: Pki,
    nginx: Callable[..., NginxServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = nginx(
        certificate=pki.path("server-untrusted-cert.pem"),
        key=pki.path("server-untrusted-key.pem"),
    )
    text = one_call_job(pki, server.url("/health"), identity="client")
    error = run_one(run_cli, write_job, text)[1]["error"]
    assert error["kind"] == "server_certificate_untrusted"
    assert "CN=foreign root CA" in error["hint"]
