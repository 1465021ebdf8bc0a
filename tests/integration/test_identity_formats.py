"""Every accepted identity format completes a real mTLS handshake.

One job file contains one job per format; ``run --once --json`` calls nginx (with
ssl_verify_client on) and the in-process Python server, and each record must be
ok with the server echoing the certificate's subject.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import PrivateFormat

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.nginx import NginxServer

PASSWORD = "s3cret-for-tests"


def write_identity_files(pki: Pki, folder: Path) -> str:
    """Write one identity per supported format; return the identities YAML."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "rsa-cert.pem": pki.client_rsa.certificate_pem(),
        "rsa-key.der": pki.client_rsa.key_der(),
        "rsa-pkcs1.pem": pki.client_rsa.key_pem(
            key_format=PrivateFormat.TraditionalOpenSSL
        ),
        "ec-cert.der": pki.client.certificate_der(),
        "ec-sec1.pem": pki.client.key_pem(key_format=PrivateFormat.TraditionalOpenSSL),
        "ec-encrypted.pem": pki.client.key_pem(PASSWORD.encode()),
        "ec-encrypted.der": pki.client.key_der(PASSWORD.encode()),
        "ed-cert.pem": pki.client_ed25519.certificate_pem(),
        "ed-key.pem": pki.client_ed25519.key_pem(),
        "combined.pem": pki.client.key_pem() + pki.client.certificate_pem(),
        "inter-chain-reversed.pem": pki.intermediate.certificate_pem()
        + pki.client_via_intermediate.certificate_pem(),
        "inter-key.pem": pki.client_via_intermediate.key_pem(),
        "inter-leaf.pem": pki.client_via_intermediate.certificate_pem(),
        "intermediate.pem": pki.intermediate.certificate_pem(),
        "protected.p12": pki.client_via_intermediate.pkcs12(
            PASSWORD.encode(), [pki.intermediate.certificate]
        ),
        "open.p12": pki.client_rsa.pkcs12(None),
        "password.txt": (PASSWORD + "\n").encode(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return """\
identities:
  classic-der-pkcs8:
    certificate: id/rsa-cert.pem
    key: id/rsa-key.der
  pkcs1:
    certificate: id/rsa-cert.pem
    key: id/rsa-pkcs1.pem
  der-cert-sec1:
    certificate: id/ec-cert.der
    key: id/ec-sec1.pem
  encrypted-pem:
    certificate: id/ec-cert.der
    key: id/ec-encrypted.pem
    password: {env: TEST_KEY_PASSWORD}
  encrypted-der:
    certificate: id/ec-cert.der
    key: id/ec-encrypted.der
    password: {file: id/password.txt}
  ed25519:
    certificate: id/ed-cert.pem
    key: id/ed-key.pem
  combined:
    certificate: id/combined.pem
  chain-in-file:
    certificate: id/inter-chain-reversed.pem
    key: id/inter-key.pem
  chain-files:
    certificate: id/inter-leaf.pem
    key: id/inter-key.pem
    chain: [id/intermediate.pem]
  pkcs12:
    pkcs12: id/protected.p12
    password: {env: TEST_KEY_PASSWORD}
  pkcs12-no-password:
    pkcs12: id/open.p12
"""


EXPECTED_SUBJECTS = {
    "classic-der-pkcs8": "client-rsa",
    "pkcs1": "client-rsa",
    "der-cert-sec1": "client-ec",
    "encrypted-pem": "client-ec",
    "encrypted-der": "client-ec",
    "ed25519": "client-ed25519",
    "combined": "client-ec",
    "chain-in-file": "client-intermediate",
    "chain-files": "client-intermediate",
    "pkcs12": "client-intermediate",
    "pkcs12-no-password": "client-rsa",
}


def job_file(pki: Pki, tmp_path: Path, url: str) -> Path:
    identities = write_identity_files(pki, tmp_path / "id")
    (tmp_path / "ca.pem").write_bytes(pki.ca.certificate_pem())
    jobs = "".join(
        f"""\
  {name}:
    identity: {name}
    truststore: test-ca
    endpoints:
      - name: whoami
        url: {url}
        expect: {{status: 200, body_contains: "CN={subject}"}}
"""
        for name, subject in EXPECTED_SUBJECTS.items()
    )
    text = (
        f"version: 1\n{identities}truststores:\n  test-ca:\n"
        f"    certificates: [ca.pem]\njobs:\n{jobs}"
    )
    path = tmp_path / "formats.yaml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def key_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KEY_PASSWORD", PASSWORD)


def assert_every_format_ok(result: CliResult) -> None:
    by_job = {record["job"]: record for record in result.records}
    assert sorted(by_job) == sorted(EXPECTED_SUBJECTS)
    for name, subject in EXPECTED_SUBJECTS.items():
        record = by_job[name]
        assert record["ok"], (name, record["error"])
        assert record["identity"]["subject"].startswith(f"CN={subject},"), name


@pytest.mark.nginx
def test_every_format_against_nginx(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
) -> None:
    server = nginx()
    path = job_file(pki, tmp_path, server.url("/whoami"))
    result = run_cli("run", "--once", "--json", str(path))
    assert_every_format_ok(result)
    assert result.code == 0


def test_every_format_against_python_server(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
) -> None:
    server = mtls_server(
        client_ca=pki.ca.certificate_pem() + pki.intermediate.certificate_pem()
    )
    path = job_file(pki, tmp_path, server.url("/whoami"))
    result = run_cli("run", "--once", "--json", str(path))
    assert_every_format_ok(result)
    assert result.code == 0


def test_password_and_key_never_appear_in_output(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
) -> None:
    server = mtls_server(
        client_ca=pki.ca.certificate_pem() + pki.intermediate.certificate_pem()
    )
    path = job_file(pki, tmp_path, server.url("/whoami"))
    log = tmp_path / "responses.jsonl"
    result = run_cli("run", "--once", "--json", "--response-log", str(log), str(path))
    everything = result.stdout + result.stderr + log.read_text()
    assert PASSWORD not in everything
    for key in (pki.client.key_pem(), pki.client_rsa.key_pem()):
        key_line = key.decode().splitlines()[1]
        assert key_line not in everything
