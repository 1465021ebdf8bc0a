"""Summaries of certificates for records, dry runs and error messages."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass(frozen=True)
class CertificateInfo:
    """The facts about one certificate that people compare: names, dates, digest."""

    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str
    serial: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateInfo:
        dns_names: tuple[str, ...] = ()
        ip_addresses: tuple[str, ...] = ()
        try:
            san = certificate.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value
            dns_names = tuple(san.get_values_for_type(x509.DNSName))
            ip_addresses = tuple(
                str(a) for a in san.get_values_for_type(x509.IPAddress)
            )
        except x509.ExtensionNotFound:
            pass
        return cls(
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            sha256=fingerprint(certificate),
            serial=f"{certificate.serial_number:X}",
            dns_names=dns_names,
            ip_addresses=ip_addresses,
        )

    def record(self) -> dict[str, Any]:
        """Return the certificate fields of a response record."""
        return dict(self._record_fields)

    @functools.cached_property
    def _record_fields(self) -> dict[str, Any]:
        # Computed once: every record of an identity's calls repeats them.
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": iso_time(self.not_after),
            "sha256": self.sha256,
        }


def fingerprint(certificate: x509.Certificate) -> str:
    """Return the SHA-256 fingerprint as openssl and keytool print it (AB:CD:...)."""
    return _colon_hex(certificate.fingerprint(hashes.SHA256()))


def public_key_fingerprint(public_key: PublicKeyTypes) -> str:
    """Return the SHA-256 of a public key's SubjectPublicKeyInfo, for key matching."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return _colon_hex(hashlib.sha256(der).digest())


def iso_time(moment: dt.datetime) -> str:
    """Format a UTC time as ISO 8601 with a Z, to the second."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in digest)
