"""A small certificate authority for the demo and the tests.

It issues CA, server and client certificates with the extensions real
deployments use: basicConstraints, keyUsage, extendedKeyUsage, subject and
authority key identifiers, and subjectAltName for servers.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["rsa", "ec", "ed25519"]
IssuedKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
DAY = dt.timedelta(days=1)


def new_key(key_type: KeyType = "ec") -> IssuedKey:
    """Generate a private key: RSA 2048, EC P-256 or Ed25519."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Issued:
    """A private key with the certificate issued for it."""

    key: IssuedKey
    certificate: x509.Certificate

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)

    def key_pem(
        self,
        password: bytes | None = None,
        key_format: PrivateFormat = PrivateFormat.PKCS8,
    ) -> bytes:
        """Serialise the key as PEM in PKCS#8, or TraditionalOpenSSL (PKCS#1/SEC1)."""
        encryption = BestAvailableEncryption(password) if password else NoEncryption()
        return self.key.private_bytes(Encoding.PEM, key_format, encryption)

    def key_der(self, password: bytes | None = None) -> bytes:
        """Serialise the key as DER PKCS#8, as ``openssl pkcs8 -topk8 -outform DER``."""
        encryption = BestAvailableEncryption(password) if password else NoEncryption()
        return self.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, encryption)

    def pkcs12(
        self, password: bytes | None, chain: Sequence[x509.Certificate] = ()
    ) -> bytes:
        """Serialise key, certificate and chain as a PKCS#12 file."""
        encryption = BestAvailableEncryption(password) if password else NoEncryption()
        return pkcs12.serialize_key_and_certificates(
            b"client", self.key, self.certificate, list(chain) or None, encryption
        )

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        """Write ``STEM-cert.pem`` and an unencrypted ``STEM-key.pem``."""
        certificate_path = folder / f"{stem}-cert.pem"
        key_path = folder / f"{stem}-key.pem"
        certificate_path.write_bytes(self.certificate_pem())
        key_path.write_bytes(self.key_pem())
        key_path.chmod(0o600)
        return certificate_path, key_path


@dataclass(frozen=True)
class CertificateAuthority(Issued):
    """A CA that issues intermediates, server and client certificates."""

    @classmethod
    def new_root(
        cls,
        common_name: str = "mtls-runner test root CA",
        key_type: KeyType = "ec",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> CertificateAuthority:
        key = new_key(key_type)
        name = _name(common_name)
        start = not_before or _now() - DAY
        certificate = (
            _builder(
                name, name, key.public_key(), start, not_after or start + 3650 * DAY
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(_ca_key_usage(), True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                False,
            )
        )
        return cls(key, _sign(certificate, key))

    def issue_ca(
        self, common_name: str, key_type: KeyType = "ec"
    ) -> CertificateAuthority:
        """Issue an intermediate CA certificate."""
        key = new_key(key_type)
        start = _now() - DAY
        builder = (
            self._builder_for(common_name, key, start, start + 1825 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(_ca_key_usage(), True)
        )
        return CertificateAuthority(key, _sign(builder, self.key))

    def issue(
        self,
        common_name: str,
        *,
        client: bool = False,
        server: bool = False,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        key_type: KeyType = "ec",
        key: IssuedKey | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> Issued:
        """Issue an end-entity certificate for client or server authentication."""
        key = key or new_key(key_type)
        start = not_before or _now() - DAY
        usages = []
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = self._builder_for(
            common_name, key, start, not_after or start + 365 * DAY
        ).add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        builder = builder.add_extension(_leaf_key_usage(key), True)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), False)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
        return Issued(key, _sign(builder, self.key))

    def _builder_for(
        self,
        common_name: str,
        key: IssuedKey,
        start: dt.datetime,
        end: dt.datetime,
    ) -> x509.CertificateBuilder:
        return _builder(
            _name(common_name), self.certificate.subject, key.public_key(), start, end
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
            False,
        )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: object,
    start: dt.datetime,
    end: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key),  # type: ignore[arg-type]
            False,
        )
    )


def _sign(builder: x509.CertificateBuilder, key: IssuedKey) -> x509.Certificate:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mtls-runner"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(key: IssuedKey) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
