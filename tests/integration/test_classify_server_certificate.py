"""Server certificates that OpenSSL rejects for reasons other than an unknown CA.

The issuing CA is in the job's truststore in each case, so the hint must name
the certificate's real fault and must not ask to add a CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.integration.calls import one_call_job, run_one

UNKNOWN_EXTENSION = ObjectIdentifier("1.3.6.1.4.1.55555.1")


def server_certificate(
    pki: Pki,
    stem: str,
    *,
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
    critical_unknown: bool = False,
    damage_signature: bool = False,
) -> str:
    """Write STEM-cert.pem and STEM-key.pem for localhost, issued by the test CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)]))
        .issuer_name(pki.ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), False)
        .add_extension(x509.ExtendedKeyUsage([usage]), False)
    )
    if critical_unknown:
        extension = x509.UnrecognizedExtension(UNKNOWN_EXTENSION, b"\x05\x00")
        builder = builder.add_extension(extension, critical=True)
    der = builder.sign(pki.ca.key, hashes.SHA256()).public_bytes(Encoding.DER)
    if damage_signature:
        der = der[:-1] + bytes([der[-1] ^ 0x01])  # the last byte of the signature
    certificate = x509.load_der_x509_certificate(der)
    pki.write(f"{stem}-cert.pem", certificate.public_bytes(Encoding.PEM))
    pki.write(
        f"{stem}-key.pem",
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
    )
    return stem


@pytest.fixture
def call(
    pki: Pki,
    mtls_server: Callable[..., MtlsServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> Callable[..., dict[str, Any]]:
    """Serve the named certificate and return the error of one call to it."""

    def run(stem: str) -> dict[str, Any]:
        server = mtls_server(stem)
        text = one_call_job(pki, server.url("/health"), identity="client")
        _, record = run_one(run_cli, write_job, text)
        error: dict[str, Any] = record["error"]
        return error

    return run


def test_unknown_critical_extension_named(
    call: Callable[..., dict[str, Any]], pki: Pki
) -> None:
    error = call(server_certificate(pki, "server-critical", critical_unknown=True))
    assert error["kind"] == "server_certificate_untrusted"
    assert "unhandled critical extension" in error["message"]
    assert "critical extension that OpenSSL does not support" in error["hint"]
    assert "add the" not in error["hint"]


def test_damaged_signature_named(call: Callable[..., dict[str, Any]], pki: Pki) -> None:
    error = call(server_certificate(pki, "server-bad-signature", damage_signature=True))
    assert error["kind"] == "server_certificate_untrusted"
    assert "signature" in error["message"]
    assert "does not verify with its issuer's key" in error["hint"]
    assert "add the" not in error["hint"]


def test_client_only_usage_named(call: Callable[..., dict[str, Any]], pki: Pki) -> None:
    stem = server_certificate(
        pki, "server-client-usage", usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    error = call(stem)
    assert error["kind"] == "server_certificate_untrusted"
    assert "unsuitable certificate purpose" in error["message"]
    assert "lacks serverAuth" in error["hint"]
    assert "add the" not in error["hint"]


def test_foreign_ca_still_asks_for_ca(call: Callable[..., dict[str, Any]]) -> None:
    error = call("server_untrusted")
    assert error["kind"] == "server_certificate_untrusted"
    assert "is not trusted by" in error["message"]
    assert "add the certificate of the CA" in error["hint"]


def test_valid_server_certificate_passes(
    call: Callable[..., dict[str, Any]], pki: Pki
) -> None:
    assert call(server_certificate(pki, "server-valid")) is None


def test_system_store_hint_defines_truststore(
    pki: Pki,
    mtls_server: Callable[..., MtlsServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    text = one_call_job(pki, server.url("/health"), identity="client", truststore=None)
    _, record = run_one(run_cli, write_job, text)
    error = record["error"]
    assert error["kind"] == "server_certificate_untrusted"
    assert "is not trusted by the operating system's store" in error["message"]
    assert error["hint"].startswith("define a truststore under 'truststores'")
    assert "CN=test root CA,O=mtls-runner" in error["hint"]
    assert "name it in the job with 'truststore: NAME'" in error["hint"]
    assert " to truststore " not in error["hint"]


def test_private_truststore_hint_adds_ca(
    pki: Pki,
    mtls_server: Callable[..., MtlsServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    # Control: with a truststore of its own, the job adds the CA to that one.
    server = mtls_server()
    text = one_call_job(
        pki, server.url("/health"), identity="client", truststore="other-ca.pem"
    )
    _, record = run_one(run_cli, write_job, text)
    hint = record["error"]["hint"]
    assert hint.startswith("add the certificate of the CA CN=test root CA")
    assert "to truststore 'private'" in hint
