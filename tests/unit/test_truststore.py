"""Truststore loading: bundles, DER files, folders, PKCS#12 and the system store."""

from __future__ import annotations

import base64
import datetime as dt
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from runner.config.loader import Defined
from runner.config.models import Truststore
from runner.errors import TruststoreError
from runner.tls.truststore import load_system_truststore, load_truststore
from tests.conftest import Pki


def define(folder: Path, **fields: object) -> Defined[Truststore]:
    return Defined("internal", Truststore(**fields), "jobs.yaml", folder, (5, 3))  # type: ignore[arg-type]


def test_pem_bundle(pki: Pki, tmp_path: Path) -> None:
    bundle = pki.ca.certificate_pem() + pki.other_ca.certificate_pem()
    (tmp_path / "bundle.pem").write_bytes(bundle)
    store = load_truststore(define(tmp_path, certificates=["bundle.pem"]))
    assert store.certificates == (pki.ca.certificate, pki.other_ca.certificate)


def test_der_file(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "ca.der").write_bytes(pki.ca.certificate_der())
    store = load_truststore(define(tmp_path, certificates=["ca.der"]))
    assert store.certificates == (pki.ca.certificate,)


def test_folder_reads_certificate_files_only(pki: Pki, tmp_path: Path) -> None:
    folder = tmp_path / "cas"
    folder.mkdir()
    (folder / "a.crt").write_bytes(pki.ca.certificate_pem())
    (folder / "b.der").write_bytes(pki.other_ca.certificate_der())
    (folder / "README.txt").write_text("not a certificate")
    store = load_truststore(define(tmp_path, certificates=["cas"]))
    assert len(store.certificates) == 2


def test_duplicates_are_dropped(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(pki.ca.certificate_pem() * 3)
    store = load_truststore(define(tmp_path, certificates=["a.pem"]))
    assert store.certificates == (pki.ca.certificate,)


def test_blob_holds_only_the_given_certificates(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(pki.ca.certificate_pem())
    store = load_truststore(define(tmp_path, certificates=["ca.pem"]))
    assert store.pem.count(b"BEGIN CERTIFICATE") == 1


def test_pkcs12_truststore(pki: Pki, tmp_path: Path) -> None:
    data = pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(pki.ca.certificate, b"root")],
        pkcs12.serialization.BestAvailableEncryption(b"changeit"),  # type: ignore[attr-defined]
    )
    (tmp_path / "truststore.p12").write_bytes(data)
    store = load_truststore(
        define(tmp_path, pkcs12="truststore.p12", password="changeit")
    )
    assert store.certificates == (pki.ca.certificate,)


def test_empty_folder_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(TruststoreError, match="no certificate found"):
        load_truststore(define(tmp_path, certificates=["empty"]))


def test_missing_file_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(TruststoreError, match="missing.pem: file not found"):
        load_truststore(define(tmp_path, certificates=["missing.pem"]))


def test_key_only_file_is_invalid(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_bytes(pki.client.key_pem())
    with pytest.raises(TruststoreError, match="contains a private key but no cert"):
        load_truststore(define(tmp_path, certificates=["key.pem"]))


def test_system_store_follows_ssl_cert_file(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "system.pem").write_bytes(pki.other_ca.certificate_pem())
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "system.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    store = load_system_truststore()
    assert store.certificates == (pki.other_ca.certificate,)


def test_system_true_adds_system_store(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "system.pem").write_bytes(pki.other_ca.certificate_pem())
    (tmp_path / "ca.pem").write_bytes(pki.ca.certificate_pem())
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "system.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    store = load_truststore(define(tmp_path, certificates=["ca.pem"], system=True))
    assert set(store.certificates) == {pki.ca.certificate, pki.other_ca.certificate}


def test_private_store_ignores_environment(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "system.pem").write_bytes(pki.other_ca.certificate_pem())
    (tmp_path / "ca.pem").write_bytes(pki.ca.certificate_pem())
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "system.pem"))
    store = load_truststore(define(tmp_path, certificates=["ca.pem"]))
    assert store.certificates == (pki.ca.certificate,)


def test_empty_system_store_is_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    with pytest.raises(TruststoreError, match="operating system's truststore"):
        load_system_truststore()


def negative_serial_certificate() -> bytes:
    """Return a PEM CA certificate whose serial number is negative.

    cryptography refuses to build one, so the serial's first byte is patched
    after signing; the signature no longer verifies, which parsing ignores.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "negative serial CA")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x11223344556677)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(Encoding.DER)
    serial = bytes.fromhex("020711223344556677")
    assert der.count(serial) == 1
    patched = der.replace(serial, bytes.fromhex("020791223344556677"))
    body = base64.encodebytes(patched).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    text = "\n".join(
        ["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----"]
    )
    return (text + "\n").encode()


def test_system_store_silences_serial_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "system.pem").write_bytes(negative_serial_certificate())
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "system.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = load_system_truststore()
    assert len(store.certificates) == 1
    assert [w.message for w in caught] == []


def test_private_store_keeps_serial_warning(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "odd.pem").write_bytes(negative_serial_certificate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_truststore(define(tmp_path, certificates=["odd.pem"]))
    assert any(w.category is CryptographyDeprecationWarning for w in caught)


# --- private keys in truststores are passed over unread ----------------------------


def test_folder_with_encrypted_keys_loads(pki: Pki, tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(pki.ca.certificate_pem())
    (folder / "client-key-enc.pem").write_bytes(pki.client.key_pem(b"pass-word"))
    (folder / "client-key-enc.der").write_bytes(pki.client.key_der(b"pass-word"))
    store = load_truststore(define(tmp_path, certificates=["certs"]))
    assert store.certificates == (pki.ca.certificate,)


def test_bundle_with_encrypted_key_loads(pki: Pki, tmp_path: Path) -> None:
    bundle = pki.client.key_pem(b"pass-word") + pki.ca.certificate_pem()
    (tmp_path / "bundle.pem").write_bytes(bundle)
    store = load_truststore(define(tmp_path, certificates=["bundle.pem"]))
    assert store.certificates == (pki.ca.certificate,)


def test_damaged_key_block_is_not_parsed(pki: Pki, tmp_path: Path) -> None:
    damaged = (
        b"-----BEGIN PRIVATE KEY-----\n!!not base64!!\n-----END PRIVATE KEY-----\n"
    )
    (tmp_path / "bundle.pem").write_bytes(damaged + pki.ca.certificate_pem())
    store = load_truststore(define(tmp_path, certificates=["bundle.pem"]))
    assert store.certificates == (pki.ca.certificate,)


def test_encrypted_der_key_file_is_invalid(pki: Pki, tmp_path: Path) -> None:
    # Named on its own, a key file still gives no certificate, but the error
    # names the key, not a missing password.
    (tmp_path / "key.der").write_bytes(pki.client.key_der(b"pass-word"))
    with pytest.raises(TruststoreError, match="contains a private key but no cert"):
        load_truststore(define(tmp_path, certificates=["key.der"]))


def test_public_key_file_in_folder_is_invalid(pki: Pki, tmp_path: Path) -> None:
    # Control: only private keys are passed over; other DER data still fails.
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(pki.ca.certificate_pem())
    public = pki.client.key.public_key().public_bytes(
        Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / "public.der").write_bytes(public)
    with pytest.raises(TruststoreError, match="not a recognised certificate"):
        load_truststore(define(tmp_path, certificates=["certs"]))
