"""The curl command of a dry run: key material by path, secrets kept out."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config.loader import Defined
from runner.config.models import Identity, SecretRef, Truststore
from runner.report.curl import curl_command
from runner.transport.request import Request, TlsSettings
from tests.conftest import Pki
from tests.openssl_files import des_encrypted_key, legacy_pkcs12


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


# --- headers from variables, credential headers -----------------------------------


def header_command(pki: Pki, name: str, template: str, value: str) -> str:
    request = Request(
        url="https://localhost/", tls=TlsSettings(b""), headers=((name, value),)
    )
    templates = {name.lower(): (name, template)}
    lines = curl_command(
        request, request.url, frozenset({value}), None, None, templates
    )
    return "\n".join(lines)


def test_secret_variable_header_reads_shell_variable(pki: Pki) -> None:
    text = header_command(
        pki, "Authorization", "Bearer ${API_TOKEN}", "Bearer t-9f3a7c"
    )
    assert "--header 'Authorization: Bearer '\"$API_TOKEN\"" in text
    assert "t-9f3a7c" not in text
    assert "REDACTED" not in text


def test_plain_variable_header_reads_shell_variable(pki: Pki) -> None:
    text = header_command(pki, "X-Request-Tag", "tag-${REQUEST_TAG}!", "tag-x1!")
    assert "--header 'X-Request-Tag: tag-'\"$REQUEST_TAG\"'!'" in text
    assert "# the shell fills in $REQUEST_TAG from its environment" in text


def test_escaped_reference_stays_literal(pki: Pki) -> None:
    text = header_command(pki, "X-Template", "$${NAME} and ${TAG}", "${NAME} and 7")
    assert "--header 'X-Template: ${NAME} and '\"$TAG\"" in text


def test_literal_credential_header_is_redacted(pki: Pki) -> None:
    text = header_command(pki, "X-Api-Key", "k-4d9e1f", "k-4d9e1f")
    assert "--header 'X-Api-Key: REDACTED'" in text
    assert "k-4d9e1f" not in text
    assert "# the value of header X-Api-Key is written in the job file" in text


def test_mixed_credential_header_is_redacted(pki: Pki) -> None:
    text = header_command(pki, "Cookie", "sid=s3cret;u=${USER_ID}", "sid=s3cret;u=7")
    assert "--header 'Cookie: REDACTED'" in text
    assert "s3cret" not in text
    assert "mixes text written in the job file with variables" in text


def test_credential_header_of_variables_only(pki: Pki) -> None:
    text = header_command(pki, "Authorization", "${USER}:${PASSWORD}", "me:pw-77x")
    assert '--header \'Authorization: \'"$USER":"$PASSWORD"' in text


# --- paths and key material that curl on OpenSSL 3 cannot read ----------------------


def test_relative_paths_become_absolute(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(pki.folder.parent)
    relative = Path(pki.folder.name)
    client = Defined(
        "client",
        Identity(certificate="client-cert.pem", key="client-key.pem"),  # type: ignore[arg-type]
        "jobs.yaml",
        relative,
        (1, 1),
    )
    text = command(pki, client=client)
    assert f"--cert {pki.folder / 'client-cert.pem'}" in text
    assert f"--key {pki.folder / 'client-key.pem'}" in text


def test_encrypted_der_key_gets_conversion(pki: Pki, tmp_path: Path) -> None:
    key = tmp_path / "client-key.der"
    key.write_bytes(pki.client.key_der(b"pass-word"))
    client = identity(
        pki,
        certificate="client-cert.pem",
        key=str(key),
        password=SecretRef(env="KEY_PASS"),
    )
    text = command(pki, client=client)
    assert "--key-type" not in text
    assert "--key mtls-runner-client-key.pem" in text
    assert (
        "with: openssl pkcs8 -topk8 -inform DER "
        f"-in {key} -passin env:KEY_PASS -passout env:KEY_PASS "
        "-out mtls-runner-client-key.pem"
    ) in text


def test_password_file_goes_through_stdin(pki: Pki, tmp_path: Path) -> None:
    key = tmp_path / "client-key.der"
    key.write_bytes(pki.client.key_der(b"pass-word"))
    secret = tmp_path / "key-password"
    client = identity(
        pki,
        certificate="client-cert.pem",
        key=str(key),
        password=SecretRef(file=str(secret)),
    )
    text = command(pki, client=client)
    assert f"-passin file:{secret} -passout stdin" in text
    assert f"-out mtls-runner-client-key.pem < {secret}" in text


def test_des_encrypted_pem_key_gets_conversion(pki: Pki, tmp_path: Path) -> None:
    key = des_encrypted_key(pki, tmp_path, "pass-word")
    client = identity(
        pki, certificate="client-cert.pem", key=str(key), password="pass-word"
    )
    text = command(pki, client=client)
    assert "--key mtls-runner-client-key.pem" in text
    assert "because its DES encryption needs OpenSSL's legacy provider" in text
    assert "openssl pkcs8 -topk8 -provider legacy -provider default -in" in text


def test_aes_encrypted_pem_key_is_used_as_is(pki: Pki, tmp_path: Path) -> None:
    key = tmp_path / "client-key-aes.pem"
    key.write_bytes(pki.client.key_pem(b"pass-word"))
    client = identity(
        pki, certificate="client-cert.pem", key=str(key), password="pass-word"
    )
    text = command(pki, client=client)
    assert f"--key {key}" in text
    assert "openssl" not in text


def test_modern_pkcs12_is_used_as_is(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "client.p12"
    path.write_bytes(pki.client.pkcs12(b"pass-word"))
    client = identity(pki, pkcs12=str(path), password=SecretRef(env="P12_PASS"))
    text = command(pki, client=client)
    assert f"--cert-type P12 \\\n    --cert {path}" in text
    assert "openssl" not in text


def test_rc2_pkcs12_gets_conversion(pki: Pki, tmp_path: Path) -> None:
    path = legacy_pkcs12(pki, tmp_path, "pass-word")
    client = identity(pki, pkcs12=str(path), password=SecretRef(env="P12_PASS"))
    text = command(pki, client=client)
    assert "--cert-type" not in text
    assert "--cert mtls-runner-client.pem" in text
    assert '--pass "$P12_PASS"' in text
    assert "because its RC2 encryption needs OpenSSL's legacy provider" in text
    assert (
        f"with: openssl pkcs12 -legacy -in {path} -passin env:P12_PASS "
        "-passout env:P12_PASS -out mtls-runner-client.pem"
    ) in text


def test_des_key_in_certificate_file_gets_conversion(pki: Pki, tmp_path: Path) -> None:
    key = des_encrypted_key(pki, tmp_path, "pass-word")
    combined = tmp_path / "client.pem"
    combined.write_bytes(pki.client.certificate_pem() + key.read_bytes())
    client = identity(pki, certificate=str(combined), password="pass-word")
    text = command(pki, client=client)
    assert f"--cert {combined}" in text
    assert "--key mtls-runner-client-key.pem" in text
    assert f"-in {combined} -out mtls-runner-client-key.pem" in text


def test_key_in_certificate_file_needs_no_key(pki: Pki, tmp_path: Path) -> None:
    combined = tmp_path / "client.pem"
    combined.write_bytes(pki.client.certificate_pem() + pki.client.key_pem(b"pw-1"))
    client = identity(pki, certificate=str(combined), password="pw-1")
    text = command(pki, client=client)
    assert f"--cert {combined}" in text
    assert "--key" not in text
