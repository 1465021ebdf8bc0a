"""Check a loaded identity offline: dates, usage, chain order and completeness.

These are the facts the runner can establish without the server. The failure
classifier prefers them to libcurl's error codes, and ``doctor`` prints them. A
finding is ``certain`` when it alone explains a rejection. An uncertain finding
(a chain that may be incomplete, because the runner cannot see its issuer) only
widens the hint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID

from runner.tls.certinfo import public_key_fingerprint
from runner.tls.identity import LoadedIdentity, issued_by

_CLIENT_USAGES = {
    ExtendedKeyUsageOID.CLIENT_AUTH,
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}
# OpenSSL's short names, as 'openssl x509 -text' users know them.
_USAGE_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


class Problem(StrEnum):
    """Kind of problem the runner can find in an identity on its own."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NO_CLIENT_AUTH = "no_client_auth"
    LEAF_NOT_FIRST = "leaf_not_first"
    ISSUER_NOT_ACCEPTED = "issuer_not_accepted"
    INCOMPLETE_CHAIN = "incomplete_chain"


@dataclass(frozen=True)
class IdentityFinding:
    """One offline fact about an identity, with the fix for it."""

    problem: Problem
    message: str
    fix: str
    certain: bool = True


def check_identity(
    identity: LoadedIdentity,
    *,
    trusted: Sequence[x509.Certificate] = (),
    accepted_names: Sequence[x509.Name] | None = None,
    now: dt.datetime | None = None,
) -> list[IdentityFinding]:
    """List what is wrong with an identity, most decisive first.

    ``trusted`` are certificates the runner has besides the chain (the job's
    truststore), used to tell whether the chain's last issuer is a root.
    ``accepted_names`` are the CA names a server sent in its certificate request,
    or None when unknown.
    """
    moment = now or dt.datetime.now(dt.UTC)
    findings = _date_findings(identity, moment)
    usage = _usage_finding(identity)
    if usage is not None:
        findings.append(usage)
    order = _order_finding(identity)
    if order is not None:
        findings.append(order)
    chain = _chain_finding(identity, trusted, accepted_names)
    if chain is not None:
        findings.append(chain)
    return findings


def certificate_file(identity: LoadedIdentity) -> str:
    """Return the path of the identity's certificate file, for hints."""
    return str(identity.sources[0]) if identity.sources else f"'{identity.name}'"


def path_to_root(
    identity: LoadedIdentity, trusted: Sequence[x509.Certificate] = ()
) -> list[x509.Certificate]:
    """Return the leaf and the certificates that link up from it, in order.

    The path continues through ``trusted`` certificates, because OpenSSL
    completes a client's chain from its trust store before sending it. Seen with
    libcurl 8.23 and OpenSSL 3.6: a server that trusts only the root accepts a
    leaf whose intermediate is in the job's truststore but not in its chain.
    """
    path = [identity.leaf]
    candidates = [*identity.chain, *trusted]
    while not _self_signed(path[-1]):
        issuer = next((c for c in candidates if issued_by(path[-1], c)), None)
        if issuer is None:
            break
        path.append(issuer)
        candidates.remove(issuer)
    return path


def accepted_name_on_path(
    identity: LoadedIdentity,
    accepted_names: Sequence[x509.Name],
    trusted: Sequence[x509.Certificate] = (),
) -> x509.Name | None:
    """Return the first accepted CA name that the identity's chain leads to."""
    for certificate in path_to_root(identity, trusted):
        for name in (certificate.issuer, certificate.subject):
            if name in accepted_names:
                return name
    return None


def _date_findings(
    identity: LoadedIdentity, moment: dt.datetime
) -> list[IdentityFinding]:
    leaf = identity.leaf
    where = certificate_file(identity)
    if leaf.not_valid_after_utc < moment:
        return [
            IdentityFinding(
                Problem.EXPIRED,
                f"the certificate of identity '{identity.name}' expired on "
                f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                f"replace {where} with a renewed certificate (check the dates with "
                f"'openssl x509 -noout -dates -in {where}')",
            )
        ]
    if leaf.not_valid_before_utc > moment:
        return [
            IdentityFinding(
                Problem.NOT_YET_VALID,
                f"the certificate of identity '{identity.name}' is not valid before "
                f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                f"wait until then, or check this machine's clock; 'openssl x509 "
                f"-noout -dates -in {where}' shows the dates",
            )
        ]
    return []


def _usage_finding(identity: LoadedIdentity) -> IdentityFinding | None:
    try:
        usages = identity.leaf.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage
        ).value
    except x509.ExtensionNotFound:
        return None  # no extendedKeyUsage: every purpose is allowed
    if _CLIENT_USAGES & set(usages):
        return None
    names = ", ".join(_USAGE_NAMES.get(u, u.dotted_string) for u in usages)
    return IdentityFinding(
        Problem.NO_CLIENT_AUTH,
        f"the certificate of identity '{identity.name}' is not allowed for client "
        f"authentication: its extended key usage lists only {names}",
        "ask the CA for a certificate whose extended key usage includes "
        "clientAuth (TLS Web Client Authentication)",
    )


def _order_finding(identity: LoadedIdentity) -> IdentityFinding | None:
    """Find a chain blob whose first certificate does not belong to the key.

    OpenSSL pairs the private key with the first certificate of the blob, so a
    chain that starts with an intermediate fails as "unable to set private key".
    The identity loader puts the leaf first; this catches blobs built otherwise.
    """
    try:
        first = x509.load_pem_x509_certificate(identity.chain_pem)
        key = load_pem_private_key(identity.key_pem, password=None)
    except ValueError:
        return None
    if public_key_fingerprint(first.public_key()) == public_key_fingerprint(
        key.public_key()
    ):
        return None
    return IdentityFinding(
        Problem.LEAF_NOT_FIRST,
        f"the chain of identity '{identity.name}' starts with "
        f"{first.subject.rfc4514_string()}, which is not the certificate issued for "
        "its private key",
        f"put the client certificate ({identity.leaf.subject.rfc4514_string()}) "
        f"first in {certificate_file(identity)}, followed by its intermediates, or "
        "name the intermediates under 'chain:' so mtls-runner orders them",
    )


def _chain_finding(
    identity: LoadedIdentity,
    trusted: Sequence[x509.Certificate],
    accepted_names: Sequence[x509.Name] | None,
) -> IdentityFinding | None:
    path = path_to_root(identity, trusted)
    top = path[-1]
    issuer_name = top.issuer.rfc4514_string()
    if accepted_names is not None:
        if accepted_name_on_path(identity, accepted_names, trusted) is not None:
            return None
        listed = "; ".join(n.rfc4514_string() for n in accepted_names) or "none"
        return IdentityFinding(
            Problem.ISSUER_NOT_ACCEPTED,
            f"the chain of identity '{identity.name}' leads to {issuer_name}, "
            f"which is not among the CAs the server accepts: {listed}",
            f"if {issuer_name} is an intermediate CA under one of those, add its "
            "certificate to the identity's 'chain:'; otherwise get a client "
            "certificate issued by one of those CAs",
        )
    if _self_signed(top):
        return None
    if any(issued_by(top, c) for c in path):
        return IdentityFinding(
            Problem.INCOMPLETE_CHAIN,
            f"the chain of identity '{identity.name}' loops: "
            f"{top.subject.rfc4514_string()} was issued by {issuer_name}, which is "
            "already in the chain, so it never reaches a self-signed root CA",
            "ask the CA for the chain up to its root, or make sure the server "
            f"trusts {issuer_name} directly",
            certain=False,
        )
    sent = "only its leaf" if len(path) == 1 else f"{len(path)} certificates"
    return IdentityFinding(
        Problem.INCOMPLETE_CHAIN,
        f"identity '{identity.name}' sends {sent}, issued by {issuer_name}, whose "
        "certificate is neither in the identity's chain nor in the job's "
        "truststore, so the chain may be incomplete",
        f"if {issuer_name} is an intermediate CA, add its certificate to the "
        "identity's 'chain:'",
        certain=False,
    )


def _self_signed(certificate: x509.Certificate) -> bool:
    return issued_by(certificate, certificate)
