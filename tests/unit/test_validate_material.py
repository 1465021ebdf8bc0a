"""validate on real key material: dates, usage, key match, chains, secrets, stores."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from runner.demo.pki import CertificateAuthority
from runner.tls.certinfo import public_key_fingerprint
from tests.conftest import CliResult, Pki

RunCli = Callable[..., CliResult]
WriteJob = Callable[..., Path]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def identity_file(
    certificate: Path | str,
    key: Path | str | None = None,
    *,
    chain: list[Path] | None = None,
    password: str | None = None,
    truststore: list[Path] | None = None,
) -> str:
    """Return a job file text with identity 'client' and, maybe, truststore 'trust'."""
    lines = [
        "version: 1",
        "identities:",
        "  client:",
        f"    certificate: {certificate}",
    ]
    if key is not None:
        lines.append(f"    key: {key}")
    if chain is not None:
        lines.append(f"    chain: [{', '.join(str(c) for c in chain)}]")
    if password is not None:
        lines.append(f"    password: {password}")
    if truststore is not None:
        lines += ["truststores:", "  trust:"]
        lines.append(f"    certificates: [{', '.join(str(c) for c in truststore)}]")
    return "\n".join(lines) + "\n"


def validate(run_cli: RunCli, path: Path, *options: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("validate", "--format", "json", *options, str(path))
    return result.code, json.loads(result.stdout)


def messages(document: dict[str, Any], kind: str) -> list[str]:
    return [item["message"] for item in document[kind]]


def locations(document: dict[str, Any], kind: str) -> list[tuple[int, int]]:
    return [(item["line"], item["column"]) for item in document[kind]]


def client(pki: Pki, name: str = "client") -> tuple[Path, Path]:
    return pki.path(f"{name}-cert.pem"), pki.path(f"{name}-key.pem")


@pytest.fixture(autouse=True)
def no_password_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_KEY_PASSWORD", raising=False)


def test_valid_identity_passes(run_cli: RunCli, write_job: WriteJob, pki: Pki) -> None:
    text = identity_file(*client(pki), truststore=[pki.path("ca.pem")])
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert document["errors"] == []
    assert document["warnings"] == []


def test_expired_certificate_error(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    text = identity_file(
        *client(pki, "client-expired"), truststore=[pki.path("ca.pem")]
    )
    code, document = validate(run_cli, write_job(text))
    assert code == 1
    assert locations(document, "errors") == [(4, 18)]
    expired = pki.client_expired.certificate.not_valid_after_utc
    assert f"expired on {expired:%Y-%m-%d %H:%M} UTC" in messages(document, "errors")[0]


def test_not_yet_valid_error(run_cli: RunCli, write_job: WriteJob, pki: Pki) -> None:
    text = identity_file(*client(pki, "client-not-yet-valid"))
    code, document = validate(run_cli, write_job(text))
    assert code == 1
    assert locations(document, "errors") == [(4, 18)]
    assert "is not valid until" in messages(document, "errors")[0]


def test_server_only_usage_error(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    text = identity_file(*client(pki, "client-server-only"))
    code, document = validate(run_cli, write_job(text))
    assert code == 1
    assert locations(document, "errors") == [(4, 18)]
    assert "allows only serverAuth, not clientAuth" in messages(document, "errors")[0]


def test_mismatched_key_shows_fingerprints(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    certificate, _ = client(pki)
    _, other_key = client(pki, "client-rsa")
    code, document = validate(run_cli, write_job(identity_file(certificate, other_key)))
    message = messages(document, "errors")[0]
    assert code == 1
    assert locations(document, "errors") == [(5, 10)]
    assert public_key_fingerprint(pki.client_rsa.key.public_key()) in message
    assert public_key_fingerprint(pki.client.certificate.public_key()) in message


@pytest.mark.parametrize("name", ["client", "client-via-intermediate"])
def test_unknown_issuer_not_reported(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, name: str
) -> None:
    # The issuer is in no file of the run: usually the root CA that only the
    # server trusts. Offline it cannot be told from a missing intermediate.
    code, document = validate(run_cli, write_job(identity_file(*client(pki, name))))
    assert code == 0
    assert document["warnings"] == []


def test_known_intermediate_missing_warns(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    text = identity_file(
        *client(pki, "client-via-intermediate"),
        truststore=[pki.path("ca-and-intermediate.pem")],
    )
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert (
        "is an intermediate CA (truststore 'trust' contains it) and no job"
        in (messages(document, "warnings")[0])
    )


JOBS = """\
jobs:
  with-intermediate:
    identity: client
    truststore: trust
    endpoints: [{url: "https://a.example/"}]
"""
SYSTEM_JOB = """\
  with-system-store:
    identity: client
    endpoints: [{url: "https://a.example/"}]
"""


def test_truststore_completes_chain(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    text = identity_file(
        *client(pki, "client-via-intermediate"),
        truststore=[pki.path("ca-and-intermediate.pem")],
    )
    code, document = validate(run_cli, write_job(text + JOBS))
    assert code == 0
    assert document["warnings"] == []


def test_job_without_intermediate_warns(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    text = identity_file(
        *client(pki, "client-via-intermediate"),
        truststore=[pki.path("ca-and-intermediate.pem")],
    )
    code, document = validate(run_cli, write_job(text + JOBS + SYSTEM_JOB))
    assert code == 0
    assert (
        "jobs with-system-store use a truststore without it"
        in (messages(document, "warnings")[0])
    )


def test_intermediate_in_chain_passes(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    text = identity_file(
        *client(pki, "client-via-intermediate"),
        chain=[pki.path("intermediate.pem")],
        truststore=[pki.path("ca.pem")],
    )
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert document["warnings"] == []


def test_unrelated_chain_certificate_warns(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    text = identity_file(
        *client(pki), chain=[pki.path("other-ca.pem")], truststore=[pki.path("ca.pem")]
    )
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert locations(document, "warnings") == [(6, 13)]
    assert (
        "did not issue any certificate of the chain"
        in (messages(document, "warnings")[0])
    )


def test_expiring_soon_warns(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    soon = pki.ca.issue(
        "client-soon", client=True, not_after=NOW + dt.timedelta(days=10)
    )
    certificate, key = soon.write(tmp_path, "soon")
    text = identity_file(certificate, key, truststore=[pki.path("ca.pem")])
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert locations(document, "warnings") == [(4, 18)]
    expires = soon.certificate.not_valid_after_utc
    assert f"expires on {expires:%Y-%m-%d}" in messages(document, "warnings")[0]


def test_expiry_warning_days_option(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    soon = pki.ca.issue(
        "client-soon", client=True, not_after=NOW + dt.timedelta(days=10)
    )
    certificate, key = soon.write(tmp_path, "soon")
    path = write_job(identity_file(certificate, key, truststore=[pki.path("ca.pem")]))
    code, document = validate(run_cli, path, "--expiry-warning", "5")
    assert code == 0
    assert document["warnings"] == []


def test_encrypted_key_needs_password(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    key = pki.write("encrypted-key.pem", pki.client.key_pem(b"s3cret-pass"))
    code, document = validate(run_cli, write_job(identity_file(client(pki)[0], key)))
    assert code == 1
    assert locations(document, "errors") == [(5, 10)]
    assert "encrypted and no password is configured" in messages(document, "errors")[0]


def test_encrypted_key_with_password_passes(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_KEY_PASSWORD", "s3cret-pass")
    key = pki.write("encrypted-key.pem", pki.client.key_pem(b"s3cret-pass"))
    text = identity_file(
        client(pki)[0],
        key,
        password="{env: TEST_KEY_PASSWORD}",
        truststore=[pki.path("ca.pem")],
    )
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert document["warnings"] == []


def test_unused_password_warns(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_KEY_PASSWORD", "s3cret-pass")
    text = identity_file(
        *client(pki),
        password="{env: TEST_KEY_PASSWORD}",
        truststore=[pki.path("ca.pem")],
    )
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert locations(document, "warnings") == [(6, 15)]
    assert "the password is never used" in messages(document, "warnings")[0]


def test_wrong_password_error(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_KEY_PASSWORD", "not-it")
    key = pki.write("encrypted-key.pem", pki.client.key_pem(b"s3cret-pass"))
    text = identity_file(client(pki)[0], key, password="{env: TEST_KEY_PASSWORD}")
    result = run_cli("validate", str(write_job(text)))
    assert result.code == 1
    assert ":5:10: error: " in result.stdout
    assert "wrong password" in result.stdout
    assert "not-it" not in result.stdout


def test_absent_variable_warns_and_checks_certificate(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    certificate, _ = client(pki, "client-expired")
    key = pki.write("expired-encrypted.pem", pki.client_expired.key_pem(b"pw"))
    text = identity_file(
        certificate,
        key,
        password="{env: TEST_KEY_PASSWORD}",
        truststore=[pki.path("ca.pem")],
    )
    code, document = validate(run_cli, write_job(text))
    assert code == 1
    assert locations(document, "warnings") == [(6, 15)]
    assert "TEST_KEY_PASSWORD is not set" in messages(document, "warnings")[0]
    assert "expired on" in messages(document, "errors")[0]


def test_absent_password_file_warns(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    key = pki.write("encrypted-key.pem", pki.client.key_pem(b"s3cret-pass"))
    password = f"{{file: {tmp_path / 'absent-password'}}}"
    text = identity_file(
        client(pki)[0], key, password=password, truststore=[pki.path("ca.pem")]
    )
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert "password file" in messages(document, "warnings")[0]
    assert "not found" in messages(document, "warnings")[0]


def test_literal_password_warns_and_decrypts(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    key = pki.write("encrypted-key.pem", pki.client.key_pem(b"s3cret-pass"))
    text = identity_file(
        client(pki)[0], key, password="s3cret-pass", truststore=[pki.path("ca.pem")]
    )
    result = run_cli("validate", str(write_job(text)))
    assert result.code == 0
    assert "password written in the file" in result.stdout
    assert "s3cret-pass" not in result.stdout


def test_missing_files_located(run_cli: RunCli, write_job: WriteJob) -> None:
    code, document = validate(run_cli, write_job(identity_file("nope.pem", "nope.key")))
    assert code == 1
    assert locations(document, "errors") == [(4, 18), (5, 10)]
    assert all("file not found" in m for m in messages(document, "errors"))


def test_schema_only_skips_files(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(identity_file("nope.pem", "nope.key"))
    code, document = validate(run_cli, path, "--schema-only")
    assert code == 0
    assert document["errors"] == []


def test_java_keystore_error(
    run_cli: RunCli, write_job: WriteJob, tmp_path: Path
) -> None:
    keystore = tmp_path / "client.jks"
    keystore.write_bytes(b"\xfe\xed\xfe\xed" + b"\x00" * 64)
    text = f"version: 1\nidentities:\n  client:\n    pkcs12: {keystore}\n"
    code, document = validate(run_cli, write_job(text))
    assert code == 1
    assert locations(document, "errors") == [(4, 13)]
    assert "keytool -importkeystore" in messages(document, "errors")[0]


def test_java_keystore_hint_avoids_existing_file(
    run_cli: RunCli, write_job: WriteJob, tmp_path: Path
) -> None:
    keystore = tmp_path / "client.jks"
    keystore.write_bytes(b"\xfe\xed\xfe\xed" + b"\x00" * 64)
    (tmp_path / "client.p12").write_bytes(b"taken")
    text = f"version: 1\nidentities:\n  client:\n    pkcs12: {keystore}\n"
    _, document = validate(run_cli, write_job(text))
    assert (
        f"-destkeystore {tmp_path / 'client-converted.p12'}"
        in (messages(document, "errors")[0])
    )


def pkcs12_file(pki: Pki, password: bytes | None) -> Path:
    return pki.write("client.p12", pki.client.pkcs12(password))


def pkcs12_text(path: Path, password: str) -> str:
    return (
        f"version: 1\nidentities:\n  client:\n    pkcs12: {path}\n"
        f"    password: {password}\n"
    )


def test_pkcs12_identity_passes(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_KEY_PASSWORD", "p12-pass")
    path = pkcs12_file(pki, b"p12-pass")
    code, document = validate(
        run_cli, write_job(pkcs12_text(path, "{env: TEST_KEY_PASSWORD}"))
    )
    assert code == 0
    assert document["errors"] == []


def test_pkcs12_wrong_password_error(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_KEY_PASSWORD", "wrong")
    path = pkcs12_file(pki, b"p12-pass")
    code, document = validate(
        run_cli, write_job(pkcs12_text(path, "{env: TEST_KEY_PASSWORD}"))
    )
    assert code == 1
    assert locations(document, "errors") == [(4, 13)]
    assert "wrong password" in messages(document, "errors")[0]


def test_pkcs12_without_secret_warns_only(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    path = pkcs12_file(pki, b"p12-pass")
    code, document = validate(
        run_cli, write_job(pkcs12_text(path, "{env: TEST_KEY_PASSWORD}"))
    )
    assert code == 0
    assert locations(document, "warnings") == [(5, 15)]


def truststore_text(*sources: Path | str, pkcs12_path: Path | None = None) -> str:
    lines = ["version: 1", "truststores:", "  trust:"]
    if sources:
        lines.append(f"    certificates: [{', '.join(str(s) for s in sources)}]")
    if pkcs12_path is not None:
        lines.append(f"    pkcs12: {pkcs12_path}")
    return "\n".join(lines) + "\n"


def test_truststore_folder_passes(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    folder = tmp_path / "cas"
    folder.mkdir()
    (folder / "root.crt").write_bytes(pki.ca.certificate_pem())
    code, document = validate(run_cli, write_job(truststore_text(folder)))
    assert code == 0
    assert document["warnings"] == []


def test_empty_truststore_error(
    run_cli: RunCli, write_job: WriteJob, tmp_path: Path
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    code, document = validate(run_cli, write_job(truststore_text(folder)))
    assert code == 1
    assert locations(document, "errors") == [(3, 3)]
    assert "truststore 'trust' holds no certificate" in messages(document, "errors")[0]
    assert "holds no certificate files" in messages(document, "warnings")[0]


def test_expired_ca_in_truststore_warns(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    old = CertificateAuthority.new_root(
        "old root CA",
        not_before=NOW - dt.timedelta(days=400),
        not_after=NOW - dt.timedelta(days=2),
    )
    old_path = tmp_path / "old-ca.pem"
    old_path.write_bytes(old.certificate_pem())
    text = truststore_text(pki.path("ca.pem"), old_path)
    code, document = validate(run_cli, write_job(text))
    column = text.splitlines()[3].index(str(old_path)) + 1
    assert code == 0
    assert locations(document, "warnings") == [(4, column)]
    assert (
        "CA certificate CN=old root CA,O=mtls-runner expired on"
        in (messages(document, "warnings")[0])
    )


def test_truststore_missing_file_error(run_cli: RunCli, write_job: WriteJob) -> None:
    code, document = validate(run_cli, write_job(truststore_text("absent-ca.pem")))
    assert code == 1
    assert locations(document, "errors") == [(4, 20)]
    assert "file not found" in messages(document, "errors")[0]


def test_pkcs12_truststore_passes(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    data = pkcs12.serialize_key_and_certificates(
        None, None, None, [pki.ca.certificate], pkcs12.serialization.NoEncryption()
    )
    path = pki.write("truststore.p12", data)
    code, document = validate(run_cli, write_job(truststore_text(pkcs12_path=path)))
    assert code == 0
    assert document["errors"] == []


def test_demo_job_file_passes(run_cli: RunCli, tmp_path: Path) -> None:
    from runner.demo.run import build_demo_pki, demo_job_text

    build_demo_pki(tmp_path / "pki")
    job_file = tmp_path / "demo.yaml"
    job_file.write_text(demo_job_text(), encoding="utf-8")
    result = run_cli("validate", str(job_file))
    assert result.code == 0
    assert result.stdout == "0 errors, 0 warnings in 1 file\n"


def test_malformed_extension_reported(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    der = bytearray(pki.client.certificate_der())
    # The extendedKeyUsage value is an OCTET STRING around a SEQUENCE of OIDs.
    # With that SEQUENCE tag turned into NULL, the certificate still loads, but
    # its extensions cannot be decoded.
    start = der.find(bytes([0x06, 0x03, 0x55, 0x1D, 0x25])) + 5
    if der[start] == 0x01:
        start += 3  # skip the "critical" BOOLEAN
    der[start + 2] = 0x05
    certificate = pki.write("broken-extension.der", bytes(der))
    text = identity_file(certificate, client(pki)[1])
    code, document = validate(run_cli, write_job(text))
    assert code == 1
    assert locations(document, "errors") == [(3, 3)]
    assert "cannot check the key material" in messages(document, "errors")[0]
