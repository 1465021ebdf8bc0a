"""The curl command of a dry run: key material by path, secrets kept out."""

from __future__ import annotations

from pathlib import Path

from runner.config.loader import Defined
from runner.config.models import Identity, SecretRef, Truststore
from runner.report.curl import curl_command
from runner.transport.request import Request, TlsSettings
from tests.conftest import Pki


def identity(pki: Pki, **fields: object) -> Defined[Identity]:
    return Defined("client", Identity(**fields), "jobs.yaml", pki.folder, (1, 1))  # type: ignore[arg-type]


def truststore(pki: Pki, **fields: object) -> Defined[Truststore]:
    return Defined("ca", Truststore(**fields), "jobs.yaml", pki.folder, (1, 1))  # type: ignore[arg-type]


def command(
    pki: Pki,
    request: Request | None = None,
    client: Defined[Identity] | None = None,
    trust: Defined[Truststore] | None = None,
    secrets: frozenset[str] = frozenset(),
) -> str:
    request = request or Request(url="https://localhost/", tls=TlsSettings(b""))
    lines = curl_command(request, request.url, secrets, client, trust)
    return "\n".join(lines)


def test_pem_identity_uses_cert_and_key(pki: Pki) -> None:
    client = identity(pki, certificate="client-cert.pem", key="client-key.pem")
    text = command(pki, client=client)
    assert f"--cert {pki.folder / 'client-cert.pem'}" in text
    assert f"--key {pki.folder / 'client-key.pem'}" in text


def test_der_key_gets_key_type(pki: Pki, tmp_path: Path) -> None:
    key = tmp_path / "client-key.der"
    key.write_bytes(pki.client.key_der())
    client = identity(pki, certificate="client-cert.pem", key=str(key))
    assert "--key-type DER" in command(pki, client=client)


def test_pem_key_gets_no_key_type(pki: Pki) -> None:
    client = identity(pki, certificate="client-cert.pem", key="client-key.pem")
    assert "--key-type" not in command(pki, client=client)


def test_pkcs12_identity_uses_cert_type(pki: Pki) -> None:
    client = identity(pki, pkcs12="client.p12", password=SecretRef(env="P12_PASS"))
    text = command(pki, client=client)
    assert "--cert-type P12" in text
    assert '--pass "$P12_PASS"' in text


def test_password_file_is_read_by_the_shell(pki: Pki) -> None:
    client = identity(
        pki,
        certificate="client-cert.pem",
        key="client-key.pem",
        password=SecretRef(file="key-password"),
    )
    assert f'--pass "$(cat {pki.folder / "key-password"})"' in command(
        pki, client=client
    )


def test_literal_password_is_redacted(pki: Pki) -> None:
    client = identity(
        pki, certificate="client-cert.pem", key="client-key.pem", password="hunter2"
    )
    text = command(pki, client=client)
    assert "hunter2" not in text
    assert "--pass REDACTED" in text


def test_chain_files_get_a_note(pki: Pki) -> None:
    client = identity(
        pki,
        certificate="client-via-intermediate-cert.pem",
        key="client-via-intermediate-key.pem",
        chain=["intermediate.pem"],
    )
    assert "# curl sends only the certificates of the --cert file" in command(
        pki, client=client
    )


def test_single_ca_file_is_cacert(pki: Pki) -> None:
    text = command(pki, trust=truststore(pki, certificates=["ca.pem"]))
    assert f"--cacert {pki.folder / 'ca.pem'}" in text


def test_several_ca_files_get_joined(pki: Pki) -> None:
    trust = truststore(pki, certificates=["ca.pem", "other-ca.pem"])
    text = command(pki, trust=trust)
    assert "--cacert truststore.pem" in text
    assert "> truststore.pem" in text


def test_system_store_needs_no_cacert(pki: Pki) -> None:
    options = [line.split()[0] for line in command(pki).splitlines()[1:]]
    assert "--cacert" not in options


def test_secret_header_and_body_are_redacted(pki: Pki) -> None:
    request = Request(
        url="https://localhost/orders",
        tls=TlsSettings(b""),
        method="POST",
        headers=(("Authorization", "Bearer abc"), ("X-Tag", "t-9f3")),
        body=b'{"token":"t-9f3"}',
    )
    text = command(pki, request=request, secrets=frozenset({"t-9f3"}))
    assert "abc" not in text
    assert "t-9f3" not in text


def test_request_options(pki: Pki) -> None:
    request = Request(
        url="https://api.test:8443/x",
        tls=TlsSettings(b""),
        method="DELETE",
        resolve=("api.test:8443:127.0.0.1",),
        timeout=2.5,
        connect_timeout=0.5,
        http_version="2",
    )
    text = command(pki, request=request)
    for option in (
        "--request DELETE",
        "--resolve api.test:8443:127.0.0.1",
        "--max-time 2.5",
        "--connect-timeout 0.5",
        "--http2",
    ):
        assert option in text
