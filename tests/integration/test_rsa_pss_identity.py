"""RSA-PSS client identities complete a real handshake with nginx.

cryptography cannot make an RSA-PSS key or certificate, so the openssl command
makes them, signed by the test CA. The key blob must keep the RSASSA-PSS
algorithm of the certificate, or OpenSSL finds that key and certificate differ.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from tests.conftest import CliResult, Pki
from tests.integration.calls import run_one
from tests.nginx import NginxServer

pytestmark = pytest.mark.nginx
PASSWORD = "pss-key-password"
PSS_OPTIONS = {
    "plain": [],
    "restricted": ["-pkeyopt", "rsa_pss_keygen_md:sha256", "-pkeyopt",
                   "rsa_pss_keygen_saltlen:32"],
}  # fmt: skip


@pytest.fixture(scope="module")
def openssl() -> str:
    binary = shutil.which("openssl")
    if binary is None:
        pytest.skip("openssl command not installed")
    return binary


def run_openssl(openssl: str, *arguments: object) -> None:
    result = subprocess.run(
        [openssl, *map(str, arguments)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def make_pss_identity(
    openssl: str, pki: Pki, folder: Path, options: list[str]
) -> tuple[Path, Path]:
    """Write an RSA-PSS key and a client certificate for it from the test CA."""
    folder.mkdir(parents=True, exist_ok=True)
    key, request, certificate = (folder / n for n in ("key.pem", "req.csr", "cert.pem"))
    ca_key = folder / "ca-key.pem"
    ca_key.write_bytes(
        pki.ca.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    extensions = folder / "client.ext"
    extensions.write_text("extendedKeyUsage = clientAuth\n")
    run_openssl(openssl, "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt",
                "rsa_keygen_bits:2048", *options, "-out", key)  # fmt: skip
    run_openssl(openssl, "req", "-new", "-key", key, "-subj", "/CN=pss-client",
                "-out", request)  # fmt: skip
    run_openssl(openssl, "x509", "-req", "-in", request, "-CA", pki.path("ca.pem"),
                "-CAkey", ca_key, "-CAcreateserial", "-days", "30", "-extfile",
                extensions, "-out", certificate)  # fmt: skip
    return certificate, key


def pss_job(pki: Pki, url: str, certificate: Path, key: Path, password: str) -> str:
    lines = [
        "version: 1",
        "identities:",
        "  pss:",
        f"    certificate: {certificate}",
        f"    key: {key}",
    ]
    if password:
        lines.append(f"    password: {password}")
    lines += [
        "truststores:",
        f"  test-ca: {{certificates: [{pki.path('ca.pem')}]}}",
        "jobs:",
        "  probe:",
        "    identity: pss",
        "    truststore: test-ca",
        "    timeout: 5s",
        f"    endpoints: [{{url: '{url}'}}]",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def whoami(
    pki: Pki,
    nginx: Callable[..., NginxServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> Callable[..., dict[str, object]]:
    """Call nginx's /whoami with the given identity files; return the record."""
    url = nginx(client_ca=pki.path("ca.pem")).url("/whoami")

    def call(certificate: Path, key: Path, password: str = "") -> dict[str, object]:
        text = pss_job(pki, url, certificate, key, password)
        _, record = run_one(run_cli, write_job, text)
        return record

    return call


@pytest.mark.parametrize("kind", PSS_OPTIONS)
def test_pss_identity_reaches_nginx(
    openssl: str,
    pki: Pki,
    tmp_path: Path,
    whoami: Callable[..., dict[str, object]],
    kind: str,
) -> None:
    certificate, key = make_pss_identity(openssl, pki, tmp_path, PSS_OPTIONS[kind])
    record = whoami(certificate, key)
    assert record["error"] is None
    assert record["body"] == "CN=pss-client\n"


def test_encrypted_pss_key_reaches_nginx(
    openssl: str, pki: Pki, tmp_path: Path, whoami: Callable[..., dict[str, object]]
) -> None:
    certificate, key = make_pss_identity(openssl, pki, tmp_path, [])
    encrypted = tmp_path / "encrypted.pem"
    run_openssl(openssl, "pkcs8", "-topk8", "-v2", "aes256", "-in", key,
                "-passout", f"pass:{PASSWORD}", "-out", encrypted)  # fmt: skip
    record = whoami(certificate, encrypted, PASSWORD)
    assert record["error"] is None
    assert record["body"] == "CN=pss-client\n"


def test_pss_key_of_other_certificate_is_invalid(
    openssl: str, pki: Pki, tmp_path: Path, whoami: Callable[..., dict[str, object]]
) -> None:
    certificate, _ = make_pss_identity(openssl, pki, tmp_path / "a", [])
    _, other_key = make_pss_identity(openssl, pki, tmp_path / "b", [])
    record = whoami(certificate, other_key)
    error = record["error"]
    assert isinstance(error, dict)
    assert error["kind"] == "identity_invalid"
    assert "does not match" in error["message"]
