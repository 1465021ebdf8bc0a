"""Match a server certificate's names against the host a URL names.

The rules follow RFC 6125 as OpenSSL applies them for libcurl: subject
alternative names are compared case-insensitively, a wildcard matches only
the whole left-most label, an IP address must appear as an IP address entry,
and the common name counts only when the certificate has no DNS names. The real
call stays the authority; ``doctor`` uses this to explain it beforehand.
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.x509.oid import NameOID


def certificate_names(certificate: x509.Certificate) -> tuple[list[str], list[str]]:
    """Return the DNS names and IP addresses a certificate is valid for."""
    try:
        san = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return [], []
    dns_names = list(san.get_values_for_type(x509.DNSName))
    addresses = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    return dns_names, addresses


def matches_host(certificate: x509.Certificate, host: str) -> bool:
    """Return whether the certificate is valid for ``host`` (a name or address)."""
    dns_names, addresses = certificate_names(certificate)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(a) == address for a in addresses)
    if not dns_names:
        dns_names = [
            str(attribute.value)
            for attribute in certificate.subject.get_attributes_for_oid(
                NameOID.COMMON_NAME
            )
        ]
    return any(_dns_match(pattern, host) for pattern in dns_names)


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == host
    suffix = pattern[1:]  # ".example.com"
    label, _, rest = host.partition(".")
    return bool(label) and f".{rest}" == suffix and suffix.count(".") >= 2
