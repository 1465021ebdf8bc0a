"""validate and the loaders on key material that can never work: weak keys, PKCS#12
files with two keys, looping chains, key files in truststores, password files."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)
from cryptography.x509.oid import NameOID

from runner.config.loader import load_config
from runner.demo.pki import CertificateAuthority, Issued
from runner.errors import IdentityError
from runner.tls.checks import check_identity
from runner.tls.identity import load_identity
from runner.tls.material import java_store_type, jks_hint
from tests.conftest import CliResult, Pki
from tests.unit.test_validate_material import (
    identity_file,
    locations,
    messages,
    validate,
)

RunCli = Callable[..., CliResult]
WriteJob = Callable[..., Path]
KEYTOOL = shutil.which("keytool")
needs_keytool = pytest.mark.skipif(KEYTOOL is None, reason="keytool is not installed")


def write_issued(folder: Path, issued: Issued, stem: str) -> tuple[Path, Path]:
    return issued.write(folder, stem)


@pytest.mark.parametrize(
    ("key", "phrase"),
    [
        (lambda: rsa.generate_private_key(65537, 1024), "1024-bit RSA key"),
        (lambda: ec.generate_private_key(ec.SECP192R1()), "192-bit EC key"),
    ],
)
def test_weak_client_key_error(
    run_cli: RunCli,
    write_job: WriteJob,
    pki: Pki,
    tmp_path: Path,
    key: Callable[[], rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey],
    phrase: str,
) -> None:
    weak = pki.ca.issue("client-weak", client=True, key=key())
    code, document = validate(
        run_cli, write_job(identity_file(*write_issued(tmp_path, weak, "weak")))
    )
    assert code == 1
    assert locations(document, "errors") == [(4, 18)]
    assert phrase in messages(document, "errors")[0]


def test_strong_rsa_key_passes(run_cli: RunCli, write_job: WriteJob, pki: Pki) -> None:
    certificate, key = pki.path("client-rsa-cert.pem"), pki.path("client-rsa-key.pem")
    code, document = validate(run_cli, write_job(identity_file(certificate, key)))
    assert code == 0
    assert document["errors"] == []


def test_weak_chain_certificate_error(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    weak_key = rsa.generate_private_key(65537, 1024)
    weak_ca = CertificateAuthority(
        weak_key, pki.ca.issue("weak intermediate", key=weak_key).certificate
    )
    leaf = weak_ca.issue("client-under-weak-ca", client=True)
    certificate, key = write_issued(tmp_path, leaf, "leaf")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(weak_ca.certificate_pem())
    code, document = validate(
        run_cli, write_job(identity_file(certificate, key, chain=[chain]))
    )
    assert code == 1
    assert locations(document, "errors") == [(6, 13)]
    assert "chain certificate CN=weak intermediate" in messages(document, "errors")[0]


def two_key_pkcs12(
    first: Issued, second: Issued, password: bytes | None = None
) -> bytes:
    """Join the bags of two one-key PKCS#12 files into one file without a MAC."""
    encryption = BestAvailableEncryption(password) if password else NoEncryption()
    contents = []
    for issued, alias in ((first, b"first"), (second, b"second")):
        data = pkcs12.serialize_key_and_certificates(
            alias, issued.key, issued.certificate, None, encryption
        )
        contents.extend(
            part.copy() for part in asn1_pkcs12.Pfx.load(data).authenticated_safe
        )
    safe = asn1_pkcs12.AuthenticatedSafe(contents)
    content = cms.ContentInfo({"content_type": "data", "content": safe.dump()})
    return asn1_pkcs12.Pfx({"version": "v3", "auth_safe": content}).dump()


def pkcs12_identity(path: Path, password: str | None = None) -> str:
    text = f"version: 1\nidentities:\n  client:\n    pkcs12: {path}\n"
    return text + (f"    password: {password}\n" if password is not None else "")


def test_pkcs12_two_keys_error(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    path = tmp_path / "two.p12"
    path.write_bytes(two_key_pkcs12(pki.client, pki.client_rsa))
    code, document = validate(run_cli, write_job(pkcs12_identity(path)))
    assert code == 1
    assert locations(document, "errors") == [(4, 13)]
    assert (
        "2 private keys found in the PKCS#12 file (aliases 'first', 'second')"
        in messages(document, "errors")[0]
    )


def test_pkcs12_two_keys_fail_load(
    write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    path = tmp_path / "two.p12"
    path.write_bytes(two_key_pkcs12(pki.client, pki.client_rsa))
    config = load_config([str(write_job(pkcs12_identity(path)))])
    with pytest.raises(IdentityError, match="2 private keys found"):
        load_identity(config.identities["client"])


def test_pkcs12_one_key_loads(write_job: WriteJob, pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "one.p12"
    path.write_bytes(pki.client.pkcs12(None))
    config = load_config([str(write_job(pkcs12_identity(path)))])
    assert load_identity(config.identities["client"]).leaf == pki.client.certificate


def keytool(*arguments: str) -> None:
    assert KEYTOOL is not None
    subprocess.run([KEYTOOL, *arguments], check=True, capture_output=True, timeout=60)


def generate_key_pair(store: Path, alias: str, store_type: str) -> None:
    keytool(
        "-genkeypair", "-alias", alias, "-keyalg", "RSA", "-keysize", "2048",
        "-dname", f"CN={alias}", "-validity", "10", "-storetype", store_type,
        "-keystore", str(store), "-storepass", "changeit", "-keypass", "changeit",
    )  # fmt: skip


@needs_keytool
def test_keytool_two_aliases_error(
    run_cli: RunCli,
    write_job: WriteJob,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = tmp_path / "two.p12"
    generate_key_pair(store, "orders", "PKCS12")
    generate_key_pair(store, "billing", "PKCS12")
    monkeypatch.setenv("TEST_KEY_PASSWORD", "changeit")
    text = pkcs12_identity(store, "{env: TEST_KEY_PASSWORD}")
    code, document = validate(run_cli, write_job(text))
    assert code == 1
    assert "(aliases 'orders', 'billing')" in messages(document, "errors")[0]


@needs_keytool
def test_keytool_jceks_hint(
    run_cli: RunCli, write_job: WriteJob, tmp_path: Path
) -> None:
    store = tmp_path / "client.jceks"
    generate_key_pair(store, "client", "JCEKS")
    code, document = validate(run_cli, write_job(pkcs12_identity(store)))
    assert code == 1
    assert "-srcstoretype JCEKS " in messages(document, "errors")[0]


def test_store_type_from_magic() -> None:
    assert java_store_type(b"\xce\xce\xce\xce\x00\x00\x00\x02") == "JCEKS"
    assert java_store_type(b"\xfe\xed\xfe\xed\x00\x00\x00\x02") == "JKS"


def test_jks_hint_names_type() -> None:
    assert "-srcstoretype JCEKS -destkeystore" in jks_hint(Path("a.ks"), "JCEKS")


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(
    subject: str, issuer: str, public_key: ec.EllipticCurvePublicKey, signer: object
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )


def looping_identity(folder: Path) -> tuple[Path, Path, Path]:
    """Write a leaf issued by LoopA, and LoopA and LoopB that issued each other."""
    key_a, key_b, key_leaf = (ec.generate_private_key(ec.SECP256R1()) for _ in "abc")
    loop_a = certificate("LoopA", "LoopB", key_a.public_key(), key_b)
    loop_b = certificate("LoopB", "LoopA", key_b.public_key(), key_a)
    leaf = certificate("loop leaf", "LoopA", key_leaf.public_key(), key_a)
    paths = (folder / "leaf.pem", folder / "leaf-key.pem", folder / "chain.pem")
    paths[0].write_bytes(leaf.public_bytes(Encoding.PEM))
    paths[1].write_bytes(
        key_leaf.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    paths[2].write_bytes(
        loop_a.public_bytes(Encoding.PEM) + loop_b.public_bytes(Encoding.PEM)
    )
    return paths


def test_looping_chain_warns(
    run_cli: RunCli, write_job: WriteJob, tmp_path: Path
) -> None:
    certificate_path, key, chain = looping_identity(tmp_path)
    text = identity_file(certificate_path, key, chain=[chain])
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert messages(document, "warnings") == [
        "identity 'client': the chain loops: CN=LoopB was issued by CN=LoopA, which "
        "is already in the chain, so it never reaches a self-signed root CA and "
        "servers accept it only when they trust one of these CAs directly; ask the "
        "CA for the chain up to its root"
    ]


def test_looping_chain_runtime_finding(write_job: WriteJob, tmp_path: Path) -> None:
    certificate_path, key, chain = looping_identity(tmp_path)
    text = identity_file(certificate_path, key, chain=[chain])
    config = load_config([str(write_job(text))])
    findings = check_identity(load_identity(config.identities["client"]))
    assert [f.message for f in findings] == [
        "the chain of identity 'client' loops: CN=LoopB was issued by CN=LoopA, "
        "which is already in the chain, so it never reaches a self-signed root CA"
    ]


def test_key_file_in_truststore_error(
    run_cli: RunCli, write_job: WriteJob, pki: Pki
) -> None:
    key = pki.path("client-key.pem")
    text = f"version: 1\ntruststores:\n  trust:\n    certificates: [{key}]\n"
    code, document = validate(run_cli, write_job(text))
    assert code == 1
    assert locations(document, "errors") == [(4, 20)]
    assert (
        f"{key}: file contains a private key but no certificate"
        in messages(document, "errors")[0]
    )


def test_key_in_truststore_folder_warns_once(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(pki.ca.certificate_pem())
    two_keys = pki.client.key_pem(b"pass-word") + pki.client_rsa.key_pem()
    (folder / "client-key-enc.pem").write_bytes(two_keys)
    (folder / "client-key.der").write_bytes(pki.client.key_der(b"pass-word"))
    text = f"version: 1\ntruststores:\n  trust:\n    certificates: [{folder}]\n"
    code, document = validate(run_cli, write_job(text))
    warnings = messages(document, "warnings")
    assert code == 0, document
    assert document["errors"] == []
    assert len(warnings) == 2
    assert warnings[0] == (
        f"truststore 'trust': {folder / 'client-key-enc.pem'} contains a private "
        "key, which does not belong in a truststore; it is skipped without being "
        "read. Move the key out of the truststore's files"
    )
    assert f"{folder / 'client-key.der'} contains a private key" in warnings[1]


def test_certificates_only_folder_no_warning(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    # Control: the same folder without key files gives no warning.
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(pki.ca.certificate_pem())
    text = f"version: 1\ntruststores:\n  trust:\n    certificates: [{folder}]\n"
    code, document = validate(run_cli, write_job(text))
    assert code == 0
    assert document["warnings"] == []


def encrypted_identity(pki: Pki, password_file: Path) -> str:
    key = pki.write("client-key-encrypted.pem", pki.client.key_pem(b"pass-word"))
    return identity_file(
        pki.path("client-cert.pem"), key, password=f"{{file: {password_file}}}"
    )


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ("pass-word".encode("utf-16"), "is not UTF-8 text (invalid byte 0xff"),
        (b"x" * (64 * 1024 + 1), "is larger than 65536 bytes"),
    ],
)
def test_unreadable_password_file_error(
    run_cli: RunCli,
    write_job: WriteJob,
    pki: Pki,
    tmp_path: Path,
    content: bytes,
    phrase: str,
) -> None:
    password_file = tmp_path / "password"
    password_file.write_bytes(content)
    code, document = validate(
        run_cli, write_job(encrypted_identity(pki, password_file))
    )
    assert code == 1
    assert locations(document, "errors") == [(6, 15)]
    assert phrase in messages(document, "errors")[0]


def test_utf16_password_hint(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    password_file.write_bytes("pass-word".encode("utf-16"))
    _, document = validate(run_cli, write_job(encrypted_identity(pki, password_file)))
    assert "save the password as UTF-8 text" in messages(document, "errors")[0]


def test_utf8_password_file_passes(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    password_file.write_bytes(b"pass-word\n")
    code, document = validate(
        run_cli, write_job(encrypted_identity(pki, password_file))
    )
    assert code == 0
    assert document["errors"] == []


def test_key_count_without_password(
    run_cli: RunCli,
    write_job: WriteJob,
    pki: Pki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The bags are counted before the file is decrypted, so CI without the
    # password still learns about the second key.
    monkeypatch.delenv("TEST_KEY_PASSWORD", raising=False)
    path = tmp_path / "protected.p12"
    path.write_bytes(two_key_pkcs12(pki.client, pki.client_rsa, b"secret"))
    code, document = validate(
        run_cli, write_job(pkcs12_identity(path, "{env: TEST_KEY_PASSWORD}"))
    )
    assert code == 1
    assert "2 private keys found" in messages(document, "errors")[0]
