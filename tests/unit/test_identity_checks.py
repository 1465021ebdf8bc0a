"""Offline identity checks: dates, usage, chain order and the CAs a server names."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from runner.demo.pki import Issued
from runner.tls.checks import Problem, accepted_name_on_path, check_identity
from runner.tls.identity import LoadedIdentity
from tests.conftest import Pki


def _identity(
    issued: Issued, *chain: Issued, leaf_first: bool = True
) -> LoadedIdentity:
    certificates = [issued.certificate, *(c.certificate for c in chain)]
    if not leaf_first:
        certificates.reverse()
    return LoadedIdentity(
        name="me",
        leaf=issued.certificate,
        chain=tuple(c.certificate for c in chain),
        key_pem=issued.key_pem(),
        chain_pem=b"".join(c.public_bytes(Encoding.PEM) for c in certificates),
    )


def _problems(
    identity: LoadedIdentity, trusted: Sequence[x509.Certificate] = ()
) -> list[Problem]:
    return [f.problem for f in check_identity(identity, trusted=trusted)]


def test_valid_identity_has_no_findings(pki: Pki) -> None:
    identity = _identity(pki.client)
    assert check_identity(identity, trusted=[pki.ca.certificate]) == []


def test_expired(pki: Pki) -> None:
    problems = _problems(_identity(pki.client_expired), trusted=[pki.ca.certificate])
    assert problems == [Problem.EXPIRED]


def test_not_yet_valid(pki: Pki) -> None:
    identity = _identity(pki.client_not_yet_valid)
    assert _problems(identity, trusted=[pki.ca.certificate]) == [Problem.NOT_YET_VALID]


def test_server_auth_only(pki: Pki) -> None:
    findings = check_identity(
        _identity(pki.client_server_only), trusted=[pki.ca.certificate]
    )
    assert [f.problem for f in findings] == [Problem.NO_CLIENT_AUTH]
    assert "only serverAuth" in findings[0].message


def test_leaf_not_first(pki: Pki) -> None:
    identity = _identity(
        pki.client_via_intermediate, pki.intermediate, leaf_first=False
    )
    problems = _problems(identity, trusted=[pki.ca.certificate])
    assert problems == [Problem.LEAF_NOT_FIRST]


def test_unknown_issuer_is_uncertain(pki: Pki) -> None:
    findings = check_identity(_identity(pki.client_via_intermediate))
    assert [f.problem for f in findings] == [Problem.INCOMPLETE_CHAIN]
    assert findings[0].certain is False


def test_intermediate_in_truststore_completes_chain(pki: Pki) -> None:
    identity = _identity(pki.client_via_intermediate)
    trusted = [pki.ca.certificate, pki.intermediate.certificate]
    assert check_identity(identity, trusted=trusted) == []


def test_issuer_not_among_named_cas(pki: Pki) -> None:
    identity = _identity(pki.client_foreign)
    findings = check_identity(identity, accepted_names=[pki.ca.certificate.subject])
    assert [f.problem for f in findings] == [Problem.ISSUER_NOT_ACCEPTED]
    assert "CN=test root CA" in findings[0].message


def test_chain_reaches_named_root(pki: Pki) -> None:
    identity = _identity(pki.client_via_intermediate, pki.intermediate)
    name = accepted_name_on_path(identity, [pki.ca.certificate.subject])
    assert name == pki.ca.certificate.subject


def test_missing_intermediate_misses_named_root(pki: Pki) -> None:
    identity = _identity(pki.client_via_intermediate)
    assert accepted_name_on_path(identity, [pki.ca.certificate.subject]) is None
