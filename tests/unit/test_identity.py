"""Identity loading: every accepted format, and a clear error for every broken one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import keys, pem
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from runner.config.loader import Defined
from runner.config.models import Identity, SecretRef
from runner.errors import IdentityError
from runner.tls.certinfo import fingerprint
from runner.tls.identity import load_identity
from tests.conftest import Pki

PASSWORD = "correct horse battery"


def define(folder: Path, **fields: object) -> Defined[Identity]:
    return Defined("partner", Identity(**fields), "jobs.yaml", folder, (3, 3))  # type: ignore[arg-type]


def leaf_of(chain_pem: bytes) -> bytes:
    return chain_pem.split(b"-----END CERTIFICATE-----")[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


def test_pem_certificate_and_pem_pkcs8_key(pki: Pki, folder: Path) -> None:
    cert, key = pki.client.write(folder, "c")
    identity = load_identity(define(folder, certificate=cert.name, key=key.name))
    assert identity.leaf == pki.client.certificate


def test_classic_recipe_der_pkcs8_key_with_pem_certificate(
    pki: Pki, folder: Path
) -> None:
    (folder / "cert.pem").write_bytes(pki.client_rsa.certificate_pem())
    (folder / "key.der").write_bytes(pki.client_rsa.key_der())
    identity = load_identity(define(folder, certificate="cert.pem", key="key.der"))
    assert identity.leaf == pki.client_rsa.certificate


def test_der_certificate(pki: Pki, folder: Path) -> None:
    (folder / "cert.der").write_bytes(pki.client.certificate_der())
    (folder / "key.pem").write_bytes(pki.client.key_pem())
    identity = load_identity(define(folder, certificate="cert.der", key="key.pem"))
    assert identity.leaf == pki.client.certificate


def test_output_key_is_unencrypted_pkcs8_pem(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client_rsa.certificate_pem())
    (folder / "key.der").write_bytes(pki.client_rsa.key_der(PASSWORD.encode()))
    identity = load_identity(
        define(folder, certificate="cert.pem", key="key.der", password=PASSWORD)
    )
    assert identity.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("issued", "key_format"),
    [
        ("client_rsa", PrivateFormat.TraditionalOpenSSL),  # PKCS#1
        ("client", PrivateFormat.TraditionalOpenSSL),  # SEC1
        ("client_ed25519", PrivateFormat.PKCS8),
    ],
)
def test_key_forms(
    pki: Pki, folder: Path, issued: str, key_format: PrivateFormat
) -> None:
    holder = getattr(pki, issued)
    (folder / "cert.pem").write_bytes(holder.certificate_pem())
    (folder / "key.pem").write_bytes(holder.key_pem(key_format=key_format))
    identity = load_identity(define(folder, certificate="cert.pem", key="key.pem"))
    assert identity.leaf == holder.certificate


def test_der_pkcs1_rsa_key(pki: Pki, folder: Path) -> None:
    der = pki.client_rsa.key.private_bytes(
        Encoding.DER, PrivateFormat.TraditionalOpenSSL, NoEncryption()
    )
    (folder / "cert.pem").write_bytes(pki.client_rsa.certificate_pem())
    (folder / "key.der").write_bytes(der)
    identity = load_identity(define(folder, certificate="cert.pem", key="key.der"))
    assert identity.leaf == pki.client_rsa.certificate


@pytest.mark.parametrize(
    "key_format", [PrivateFormat.PKCS8, PrivateFormat.TraditionalOpenSSL]
)
def test_encrypted_pem_keys(pki: Pki, folder: Path, key_format: PrivateFormat) -> None:
    (folder / "cert.pem").write_bytes(pki.client_rsa.certificate_pem())
    (folder / "key.pem").write_bytes(
        pki.client_rsa.key_pem(PASSWORD.encode(), key_format=key_format)
    )
    identity = load_identity(
        define(folder, certificate="cert.pem", key="key.pem", password=PASSWORD)
    )
    assert identity.leaf == pki.client_rsa.certificate


def test_password_from_environment(
    pki: Pki, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_KEY_PASSWORD", PASSWORD)
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    (folder / "key.pem").write_bytes(pki.client.key_pem(PASSWORD.encode()))
    secret = SecretRef(env="PARTNER_KEY_PASSWORD")
    identity = load_identity(
        define(folder, certificate="cert.pem", key="key.pem", password=secret)
    )
    assert identity.leaf == pki.client.certificate


def test_password_from_file_drops_trailing_newline(pki: Pki, folder: Path) -> None:
    (folder / "password.txt").write_text(PASSWORD + "\n")
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    (folder / "key.pem").write_bytes(pki.client.key_pem(PASSWORD.encode()))
    secret = SecretRef(file="password.txt")
    identity = load_identity(
        define(folder, certificate="cert.pem", key="key.pem", password=secret)
    )
    assert identity.leaf == pki.client.certificate


def test_pkcs12_with_password_and_chain(pki: Pki, folder: Path) -> None:
    holder = pki.client_via_intermediate
    data = holder.pkcs12(PASSWORD.encode(), [pki.intermediate.certificate])
    (folder / "id.p12").write_bytes(data)
    identity = load_identity(define(folder, pkcs12="id.p12", password=PASSWORD))
    assert identity.chain == (pki.intermediate.certificate,)


def test_pkcs12_without_password(pki: Pki, folder: Path) -> None:
    (folder / "id.p12").write_bytes(pki.client.pkcs12(None))
    identity = load_identity(define(folder, pkcs12="id.p12"))
    assert identity.leaf == pki.client.certificate


def test_pkcs12_legacy_rc2_from_openssl(pki: Pki, folder: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl command not installed")
    cert, key = pki.client_rsa.write(folder, "c")
    result = subprocess.run(
        [openssl, "pkcs12", "-export", "-legacy", "-in", cert, "-inkey", key,
         "-out", folder / "legacy.p12", "-passout", f"pass:{PASSWORD}"],
        capture_output=True,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"openssl cannot write legacy PKCS#12: {result.stderr[:200]!r}")
    info = subprocess.run(
        [openssl, "pkcs12", "-in", folder / "legacy.p12", "-info", "-noout",
         "-legacy", "-passin", f"pass:{PASSWORD}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "RC2" in info.stdout + info.stderr
    identity = load_identity(define(folder, pkcs12="legacy.p12", password=PASSWORD))
    assert identity.leaf == pki.client_rsa.certificate


def test_certificate_file_holding_the_key(pki: Pki, folder: Path) -> None:
    (folder / "both.pem").write_bytes(
        pki.client.key_pem() + pki.client.certificate_pem()
    )
    identity = load_identity(define(folder, certificate="both.pem"))
    assert identity.leaf == pki.client.certificate


def test_chain_in_wrong_order_is_sent_leaf_first(pki: Pki, folder: Path) -> None:
    holder = pki.client_via_intermediate
    bundle = (
        pki.ca.certificate_pem()
        + pki.intermediate.certificate_pem()
        + holder.certificate_pem()
    )
    (folder / "chain.pem").write_bytes(bundle)
    (folder / "key.pem").write_bytes(holder.key_pem())
    identity = load_identity(define(folder, certificate="chain.pem", key="key.pem"))
    assert identity.chain == (pki.intermediate.certificate, pki.ca.certificate)
    assert leaf_of(identity.chain_pem) == leaf_of(holder.certificate_pem())


def test_extra_chain_files(pki: Pki, folder: Path) -> None:
    holder = pki.client_via_intermediate
    cert, key = holder.write(folder, "c")
    (folder / "intermediate.pem").write_bytes(pki.intermediate.certificate_pem())
    identity = load_identity(
        define(folder, certificate=cert.name, key=key.name, chain=["intermediate.pem"])
    )
    assert identity.chain == (pki.intermediate.certificate,)


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="utf8-bom"),
        pytest.param(lambda b: b.decode().encode("utf-16"), id="utf16-bom"),
        pytest.param(lambda b: b.replace(b"\n", b"\r"), id="old-mac-cr"),
    ],
)
def test_editor_line_ends_and_byte_order_marks(
    pki: Pki, folder: Path, transform: object
) -> None:
    assert callable(transform)
    (folder / "cert.pem").write_bytes(transform(pki.client.certificate_pem()))
    (folder / "key.pem").write_bytes(transform(pki.client.key_pem()))
    identity = load_identity(define(folder, certificate="cert.pem", key="key.pem"))
    assert identity.leaf == pki.client.certificate


def test_renewed_certificate_for_same_key_picks_longest_valid(
    pki: Pki, folder: Path
) -> None:
    renewed = pki.ca.issue("client-ec", client=True, key=pki.client.key)
    older = pki.client
    later = max((older, renewed), key=lambda i: i.certificate.not_valid_after_utc)
    (folder / "certs.pem").write_bytes(
        older.certificate_pem() + renewed.certificate_pem()
    )
    (folder / "key.pem").write_bytes(older.key_pem())
    identity = load_identity(define(folder, certificate="certs.pem", key="key.pem"))
    assert fingerprint(identity.leaf) == fingerprint(later.certificate)


# --- errors -----------------------------------------------------------------


def load_error(folder: Path, **fields: object) -> IdentityError:
    with pytest.raises(IdentityError) as caught:
        load_identity(define(folder, **fields))
    return caught.value


def test_mismatched_key_names_both_fingerprints(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    (folder / "key.pem").write_bytes(pki.client_rsa.key_pem())
    error = load_error(folder, certificate="cert.pem", key="key.pem")
    assert "does not match" in error.message
    assert error.message.count("SHA-256") >= 1
    assert error.message.count(":") > 40  # both colon-separated fingerprints


def test_wrong_password_is_not_shown(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    (folder / "key.pem").write_bytes(pki.client.key_pem(PASSWORD.encode()))
    error = load_error(
        folder, certificate="cert.pem", key="key.pem", password="nope-xyz"
    )
    assert "wrong password" in error.message
    assert "nope-xyz" not in error.message + error.hint


def test_missing_password_for_encrypted_key(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    (folder / "key.der").write_bytes(pki.client.key_der(PASSWORD.encode()))
    error = load_error(folder, certificate="cert.pem", key="key.der")
    assert "no password is configured" in error.message


def test_wrong_password_for_encrypted_der_key(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    (folder / "key.der").write_bytes(pki.client.key_der(PASSWORD.encode()))
    error = load_error(folder, certificate="cert.pem", key="key.der", password="bad")
    assert "wrong password" in error.message


def test_pkcs12_wrong_password(pki: Pki, folder: Path) -> None:
    (folder / "id.p12").write_bytes(pki.client.pkcs12(PASSWORD.encode()))
    error = load_error(folder, pkcs12="id.p12", password="bad-one")
    assert "wrong password" in error.message


def test_pkcs12_missing_password(pki: Pki, folder: Path) -> None:
    (folder / "id.p12").write_bytes(pki.client.pkcs12(PASSWORD.encode()))
    error = load_error(folder, pkcs12="id.p12")
    assert "no password is configured" in error.message


@pytest.mark.parametrize("key_name", ["key.pem", "key.der", "key-pkcs1.pem"])
def test_empty_password_for_encrypted_key(
    pki: Pki, folder: Path, key_name: str
) -> None:
    (folder / "cert.pem").write_bytes(pki.client_rsa.certificate_pem())
    (folder / "key.pem").write_bytes(pki.client_rsa.key_pem(PASSWORD.encode()))
    (folder / "key.der").write_bytes(pki.client_rsa.key_der(PASSWORD.encode()))
    (folder / "key-pkcs1.pem").write_bytes(
        pki.client_rsa.key_pem(
            PASSWORD.encode(), key_format=PrivateFormat.TraditionalOpenSSL
        )
    )
    error = load_error(folder, certificate="cert.pem", key=key_name, password="")
    assert "the configured password is empty" in error.message


@pytest.mark.parametrize("source", ["env", "file"])
def test_empty_password_source(
    pki: Pki, folder: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    monkeypatch.setenv("EMPTY_KEY_PASSWORD", "")
    (folder / "empty.txt").write_text("\n")
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    (folder / "key.pem").write_bytes(pki.client.key_pem(PASSWORD.encode()))
    secret = (
        SecretRef(env="EMPTY_KEY_PASSWORD")
        if source == "env"
        else SecretRef(file="empty.txt")
    )
    error = load_error(folder, certificate="cert.pem", key="key.pem", password=secret)
    assert "the configured password is empty" in error.message


def test_empty_password_for_unencrypted_key_is_ignored(pki: Pki, folder: Path) -> None:
    cert, key = pki.client.write(folder, "c")
    identity = load_identity(
        define(folder, certificate=cert.name, key=key.name, password="")
    )
    assert identity.leaf == pki.client.certificate


def test_pkcs12_empty_password(pki: Pki, folder: Path) -> None:
    (folder / "id.p12").write_bytes(pki.client.pkcs12(PASSWORD.encode()))
    error = load_error(folder, pkcs12="id.p12", password="")
    assert "the configured password is empty" in error.message


def test_unencrypted_openssh_key_ignores_password(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client_ed25519.certificate_pem())
    (folder / "key").write_bytes(
        pki.client_ed25519.key.private_bytes(
            Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()
        )
    )
    identity = load_identity(
        define(folder, certificate="cert.pem", key="key", password=PASSWORD)
    )
    assert identity.leaf == pki.client_ed25519.certificate


def test_chain_certificate_with_unknown_key_type(pki: Pki, folder: Path) -> None:
    cert, key = pki.client.write(folder, "c")
    der = pki.ca.certificate_der()
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # OID id-ecPublicKey
    assert der.count(ec_public_key) == 1
    unknown = der.replace(ec_public_key, bytes.fromhex("06072a8648ce3d0209"))
    (folder / "ca.der").write_bytes(unknown)
    error = load_error(folder, certificate=cert.name, key=key.name, chain=["ca.der"])
    assert "cannot read the key material (UnsupportedAlgorithm" in error.message


def test_unset_password_variable(
    pki: Pki, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_PASSWORD_VAR", raising=False)
    cert, key = pki.client.write(folder, "c")
    error = load_error(
        folder,
        certificate=cert.name,
        key=key.name,
        password=SecretRef(env="NO_SUCH_PASSWORD_VAR"),
    )
    assert "NO_SUCH_PASSWORD_VAR is not set" in error.message


def test_missing_file_names_the_path(folder: Path) -> None:
    error = load_error(folder, certificate="absent.pem", key="absent-key.pem")
    assert "absent.pem: file not found" in error.message


def test_garbage_file_is_unrecognised(folder: Path) -> None:
    (folder / "cert.pem").write_bytes(b"\x01\x02 not a certificate at all")
    (folder / "key.pem").write_bytes(b"garbage")
    error = load_error(folder, certificate="cert.pem", key="key.pem")
    assert "not a recognised certificate or key" in error.message


def test_empty_file(folder: Path) -> None:
    (folder / "cert.pem").write_bytes(b"\n\n")
    error = load_error(folder, certificate="cert.pem", key="cert.pem")
    assert "file is empty" in error.message


def test_java_keystore_gets_keytool_hint(folder: Path) -> None:
    (folder / "client.jks").write_bytes(
        b"\xfe\xed\xfe\xed\x00\x00\x00\x02" + b"\0" * 64
    )
    error = load_error(folder, pkcs12="client.jks")
    assert "Java KeyStore" in error.message
    assert "keytool -importkeystore" in error.hint


def test_certificate_request_is_explained(folder: Path) -> None:
    (folder / "req.pem").write_bytes(
        b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"
        b"-----END CERTIFICATE REQUEST-----\n"
    )
    error = load_error(folder, certificate="req.pem", key="req.pem")
    assert "certificate signing request" in error.message


def test_certificate_without_key_and_no_key_file(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    error = load_error(folder, certificate="cert.pem")
    assert "no private key" in error.message


def test_truncated_pem_block(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem()[:-30])
    (folder / "key.pem").write_bytes(pki.client.key_pem())
    error = load_error(folder, certificate="cert.pem", key="key.pem")
    assert "no complete PEM block" in error.message


def test_error_never_contains_key_material(pki: Pki, folder: Path) -> None:
    (folder / "cert.pem").write_bytes(pki.client.certificate_pem())
    key_pem = pki.client_rsa.key_pem()
    (folder / "key.pem").write_bytes(key_pem)
    error = load_error(folder, certificate="cert.pem", key="key.pem")
    body = key_pem.split(b"\n")[1].decode()
    assert body not in error.message + error.hint


def test_rsa_key_blob_keeps_rsa_encryption(pki: Pki, folder: Path) -> None:
    cert, key = pki.client_rsa.write(folder, "c")
    identity = load_identity(define(folder, certificate=cert.name, key=key.name))
    info = keys.PrivateKeyInfo.load(pem.unarmor(identity.key_pem)[2])
    assert info["private_key_algorithm"]["algorithm"].native == "rsa"
