"""Host name matching of server certificates, as doctor explains it."""

from __future__ import annotations

import pytest

from runner.demo.pki import CertificateAuthority
from runner.tls.hostname import matches_host


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.new_root("hostname test CA")


@pytest.mark.parametrize(
    ("names", "host", "expected"),
    [
        (["api.example.test"], "api.example.test", True),
        (["api.example.test"], "API.Example.Test", True),
        (["api.example.test"], "other.example.test", False),
        (["*.example.test"], "api.example.test", True),
        (["*.example.test"], "a.b.example.test", False),
        (["*.example.test"], "example.test", False),
        (["*.test"], "example.test", False),
    ],
)
def test_dns_names(
    ca: CertificateAuthority, names: list[str], host: str, expected: bool
) -> None:
    certificate = ca.issue("server", server=True, dns_names=names).certificate
    assert matches_host(certificate, host) is expected


def test_ip_address_needs_ip_entry(ca: CertificateAuthority) -> None:
    certificate = ca.issue(
        "127.0.0.1", server=True, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    ).certificate
    assert matches_host(certificate, "127.0.0.1") is True
    assert matches_host(certificate, "127.0.0.2") is False


def test_common_name_counts_without_dns_names(ca: CertificateAuthority) -> None:
    certificate = ca.issue("legacy.example.test", server=True).certificate
    assert matches_host(certificate, "legacy.example.test") is True


def test_common_name_ignored_with_dns_names(ca: CertificateAuthority) -> None:
    certificate = ca.issue(
        "legacy.example.test", server=True, dns_names=["api.example.test"]
    ).certificate
    assert matches_host(certificate, "legacy.example.test") is False
