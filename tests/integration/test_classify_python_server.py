"""Failure kinds against the in-process Python TLS server under TLS 1.2 and 1.3.

Each case runs a real handshake with a certificate made for it. Under TLS 1.3 a
refusal may arrive as an alert or as a reset connection, depending on timing,
so the asserts check the kind and hint, which must be the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.integration.calls import one_call_job, run_one

VERSIONS = ["1.2", "1.3"]


@pytest.fixture
def call(
    pki: Pki,
    mtls_server: Callable[..., MtlsServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> Callable[..., dict[str, Any]]:
    """Start a server, call /health once with the given job options, return the
    record."""

    def run(tls_version: str, server: str = "server", **job: Any) -> dict[str, Any]:
        instance = mtls_server(server, tls_version=tls_version)
        _, record = run_one(
            run_cli, write_job, one_call_job(pki, instance.url("/health"), **job)
        )
        return record

    return run


@pytest.mark.parametrize("version", VERSIONS)
def test_valid_identity_succeeds(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    record = call(version, identity="client")
    assert record["error"] is None
    assert record["status"] == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_no_identity_is_required(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    error = call(version)["error"]
    assert error["kind"] == "client_certificate_required"
    assert "'identity: NAME'" in error["hint"]


def test_no_identity_tls12_explains_handshake_failure(
    call: Callable[..., dict[str, Any]],
) -> None:
    error = call("1.2")["error"]
    assert "handshake_failure" in error["message"]
    assert "generic handshake error" in error["message"]


def test_no_identity_tls13_explains_read_error(
    call: Callable[..., dict[str, Any]],
) -> None:
    error = call("1.3")["error"]
    assert "after the handshake" in error["message"]


@pytest.mark.parametrize("version", VERSIONS)
def test_expired_identity_is_rejected(
    call: Callable[..., dict[str, Any]], pki: Pki, version: str
) -> None:
    error = call(version, identity="client-expired")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "expired on" in error["message"]
    assert str(pki.path("client-expired-cert.pem")) in error["hint"]
    assert "renewed certificate" in error["hint"]


def test_expired_identity_tls12_overrides_code_60(
    call: Callable[..., dict[str, Any]],
) -> None:
    error = call("1.2", identity="client-expired")["error"]
    assert "error 60" in error["message"]
    assert "reads as if the server's certificate had failed" in error["message"]


@pytest.mark.parametrize("version", VERSIONS)
def test_not_yet_valid_identity_is_rejected(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    error = call(version, identity="client-not-yet-valid")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "is not valid before" in error["message"]
    assert "clock" in error["hint"]


@pytest.mark.parametrize("version", VERSIONS)
def test_server_auth_only_identity_is_rejected(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    error = call(version, identity="client-server-only")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "only serverAuth" in error["message"]
    assert "clientAuth" in error["hint"]


@pytest.mark.parametrize("version", VERSIONS)
def test_foreign_identity_is_rejected(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    error = call(version, identity="client-foreign")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "CN=foreign root CA" in error["message"]
    assert "a CA the server trusts" in error["hint"]


@pytest.mark.parametrize("version", VERSIONS)
def test_missing_intermediate_is_rejected(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    error = call(version, identity="client-via-intermediate")["error"]
    assert error["kind"] == "client_certificate_rejected"
    assert "CN=test intermediate CA" in error["message"]
    assert "'chain:'" in error["hint"]


@pytest.mark.parametrize("version", VERSIONS)
def test_intermediate_in_truststore_is_sent(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    # OpenSSL completes the client's chain from the CA blob, so no finding about
    # an incomplete chain may appear for this identity.
    record = call(
        version,
        identity="client-via-intermediate",
        truststore="ca-and-intermediate.pem",
    )
    assert record["error"] is None


@pytest.mark.parametrize("version", VERSIONS)
def test_intermediate_in_chain_succeeds(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    record = call(
        version, identity="client-via-intermediate", chain=["intermediate.pem"]
    )
    assert record["error"] is None


@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_server_name_is_hostname_mismatch(
    call: Callable[..., dict[str, Any]], version: str
) -> None:
    error = call(version, "server_wrong_name", identity="client")["error"]
    assert error["kind"] == "hostname_mismatch"
    assert "elsewhere.test" in error["hint"]
    assert "'resolve'" in error["hint"]


@pytest.mark.parametrize("version", VERSIONS)
def test_untrusted_server_is_untrusted(
    call: Callable[..., dict[str, Any]], pki: Pki, version: str
) -> None:
    error = call(version, "server_untrusted", identity="client")["error"]
    assert error["kind"] == "server_certificate_untrusted"
    assert "CN=foreign root CA" in error["hint"]
    assert str(pki.path("ca.pem")) in error["hint"]


def test_untrusted_server_record_shows_chain(
    call: Callable[..., dict[str, Any]],
) -> None:
    tls = call("1.3", "server_untrusted", identity="client")["tls"]
    assert tls["truststore"] == "private"
    assert tls["chain"][0]["issuer"] == "CN=foreign root CA,O=mtls-runner"
    assert tls["chain"][0]["dns_names"] == ["localhost"]
    assert tls["chain"][0]["ip_addresses"] == ["127.0.0.1"]


def test_wrong_name_record_shows_presented_names(
    call: Callable[..., dict[str, Any]],
) -> None:
    tls = call("1.2", "server_wrong_name", identity="client")["tls"]
    assert tls["chain"][0]["dns_names"] == ["elsewhere.test"]
    assert tls["chain"][0]["not_after"].endswith("Z")


def test_success_record_lists_chain_and_truststore(
    call: Callable[..., dict[str, Any]],
) -> None:
    tls = call("1.3", identity="client")["tls"]
    assert [c["subject"] for c in tls["chain"]] == [
        "CN=localhost,O=mtls-runner",
        "CN=test root CA,O=mtls-runner",
    ]
    assert tls["truststore"] == "private"
