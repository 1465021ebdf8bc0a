"""Check one client identity offline: files, password, key match, dates, chain."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from runner.config.loader import Defined
from runner.config.models import Identity
from runner.errors import IdentityError, JobError
from runner.tls.certinfo import public_key_fingerprint
from runner.tls.identity import issued_by, order_chain, select_key
from runner.tls.key_strength import weak_key
from runner.tls.material import Material, MaterialReader
from runner.tls.pkcs12_bags import check_one_key
from runner.tls.validation_context import (
    CheckContext,
    check_dates,
    is_self_signed,
    label,
    read_password,
)

Keys = tuple[str | int, ...]
_CLIENT_USAGES = {
    ExtendedKeyUsageOID.CLIENT_AUTH,
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}
# Names as RFC 5280 and openssl print them; others are shown as dotted OIDs.
_USAGE_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


@dataclass
class _Read:
    """The material of one identity, with the YAML keys that named each certificate."""

    material: Material = field(default_factory=Material)
    origins: dict[bytes, Keys] = field(default_factory=dict)

    def add(self, keys: Keys, material: Material) -> None:
        self.material.extend(material)
        for certificate in material.certificates:
            self.origins.setdefault(_digest(certificate), keys)

    def origin(self, certificate: x509.Certificate) -> Keys:
        return self.origins.get(_digest(certificate), ())


def check_identity(context: CheckContext, identity: Defined[Identity]) -> None:
    """Report every problem of one identity that can be found without a network."""
    owner_text = f"identity '{identity.name}'"
    password, available = read_password(context, identity, owner_text, IdentityError)
    reader = MaterialReader(IdentityError, owner_text, skip_locked=not available)
    if identity.model.pkcs12 is not None:
        read = _read_pkcs12(context, identity, reader, password, available)
    else:
        read = _read_files(context, identity, reader, password)
    if read is None:
        return
    unused = identity.model.password is not None and available
    if identity.model.pkcs12 is None and unused and not read.material.encrypted:
        context.report(
            identity,
            ("password",),
            f"{label(identity)}: 'password' is set, but no key of this identity is "
            "encrypted, so the password is never used; remove it",
            "warning",
        )
    leaf = _find_leaf(context, identity, reader, read)
    if leaf is None:
        return
    check_dates(
        context,
        identity,
        read.origin(leaf),
        leaf,
        "client certificate",
        "ask the CA for a renewed certificate and replace the file",
    )
    _check_usage(context, identity, read.origin(leaf), leaf)
    _check_chain(context, identity, read, leaf)


def _read_files(
    context: CheckContext,
    identity: Defined[Identity],
    reader: MaterialReader,
    password: str | None,
) -> _Read | None:
    """Read the certificate, key and chain files; None when any of them failed."""
    model = identity.model
    assert model.certificate is not None
    sources: list[tuple[Keys, str]] = [(("certificate",), model.certificate)]
    if model.key is not None:
        sources.append((("key",), model.key))
    sources.extend((("chain", i), raw) for i, raw in enumerate(model.chain))
    read = _Read()
    failed = False
    for keys, raw in sources:
        path = identity.path(raw)
        try:
            read.add(keys, reader.parse(path, reader.read_bytes(path), password))
        except JobError as e:
            context.report_error(identity, keys, e)
            failed = True
    return None if failed else read


def _read_pkcs12(
    context: CheckContext,
    identity: Defined[Identity],
    reader: MaterialReader,
    password: str | None,
    available: bool,
) -> _Read | None:
    """Open the PKCS#12 file; None when it failed or stays locked without password."""
    assert identity.model.pkcs12 is not None
    path = identity.path(identity.model.pkcs12)
    try:
        data = reader.read_bytes(path)
        # The key bags can be counted without the password.
        check_one_key(reader, path, data)
    except JobError as e:
        context.report_error(identity, ("pkcs12",), e)
        return None
    try:
        bundle = reader.parse_pkcs12(path, data, password)
    except JobError as e:
        if available:
            context.report_error(identity, ("pkcs12",), e)
        return None  # else the warning about the unavailable password explains it
    material = Material()
    try:
        if bundle.key is not None:
            material.keys.append(reader.check_key(path, bundle.key))
    except JobError as e:
        context.report_error(identity, ("pkcs12",), e)
        return None
    if bundle.cert is not None:
        material.certificates.append(bundle.cert.certificate)
    material.certificates.extend(c.certificate for c in bundle.additional_certs)
    read = _Read()
    read.add(("pkcs12",), material)
    return read


def _find_leaf(
    context: CheckContext,
    identity: Defined[Identity],
    reader: MaterialReader,
    read: _Read,
) -> x509.Certificate | None:
    """Return the certificate of the identity's private key, reporting mismatches.

    When the key stays encrypted for lack of a password, the first certificate of
    the certificate file is taken as the leaf, so that its dates are checked.
    """
    model = identity.model
    material = read.material
    key_keys: Keys = ("certificate",)
    if model.pkcs12 is not None:
        key_keys = ("pkcs12",)
    elif model.key is not None:
        key_keys = ("key",)
    if material.locked and not material.keys:
        return material.certificates[0] if material.certificates else None
    source = identity.path(model.pkcs12 or model.key or model.certificate or "")
    try:
        key = select_key(reader, material, source, model.key is None)
        leaf, _ = order_chain(reader, key, material.certificates, [source])
    except JobError as e:
        context.report_error(identity, key_keys, e)
        return None
    return leaf


def _check_usage(
    context: CheckContext,
    identity: Defined[Identity],
    keys: Keys,
    leaf: x509.Certificate,
) -> None:
    """Report a client certificate whose extended key usage excludes clientAuth."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return  # no extendedKeyUsage extension: every usage is allowed
    except ValueError as e:
        context.report(
            identity,
            keys,
            f"identity '{identity.name}': cannot read the certificate's extensions "
            f"({e}); get a fresh copy of the certificate",
        )
        return
    if _CLIENT_USAGES & set(usage):
        return
    names = ", ".join(_USAGE_NAMES.get(oid, oid.dotted_string) for oid in usage)
    context.report(
        identity,
        keys,
        f"identity '{identity.name}': the client certificate "
        f"{leaf.subject.rfc4514_string()} allows only {names or 'no usage'}, not "
        "clientAuth, so servers reject it as a client certificate; ask the CA for "
        "a certificate with the clientAuth extended key usage",
    )


def _check_chain(
    context: CheckContext,
    identity: Defined[Identity],
    read: _Read,
    leaf: x509.Certificate,
) -> None:
    """Report chain certificates that are out of date, too weak, unrelated, looping
    or missing."""
    leaf_key = public_key_fingerprint(leaf.public_key())
    others = {
        _digest(c): c
        for c in read.material.certificates
        if public_key_fingerprint(c.public_key()) != leaf_key
    }
    linked: list[x509.Certificate] = []
    current = leaf
    while not is_self_signed(current):
        issuer = next((c for c in others.values() if issued_by(current, c)), None)
        if issuer is None:
            break
        linked.append(issuer)
        del others[_digest(issuer)]
        current = issuer

    _check_key_size(context, identity, read.origin(leaf), leaf, "client certificate")
    for certificate in linked:
        check_dates(
            context,
            identity,
            read.origin(certificate),
            certificate,
            "chain certificate",
            "replace it with the CA's current certificate",
        )
        keys = read.origin(certificate)
        _check_key_size(context, identity, keys, certificate, "chain certificate")
    for certificate in others.values():
        context.report(
            identity,
            read.origin(certificate),
            f"identity '{identity.name}': chain certificate "
            f"{certificate.subject.rfc4514_string()} did not issue any certificate of "
            "the chain; remove it, or add the certificates that link it to the leaf",
            "warning",
        )

    looped = next((c for c in [leaf, *linked] if issued_by(current, c)), None)
    if looped is not None and not is_self_signed(current):
        _report_loop(context, identity, read.origin(current), current, looped)
        return
    _check_top(context, identity, read.origin(current), current)


def _check_key_size(
    context: CheckContext,
    identity: Defined[Identity],
    keys: Keys,
    certificate: x509.Certificate,
    role: str,
) -> None:
    """Report a certificate whose key OpenSSL refuses to present."""
    problem = weak_key(certificate.public_key())
    if problem is None:
        return
    context.report(
        identity,
        keys,
        f"identity '{identity.name}': the {role} "
        f"{certificate.subject.rfc4514_string()} has {problem} (security level 2), "
        "so every call fails with 'key too small'; get a certificate for a key of "
        "at least 2048 bits (RSA) or 256 bits (EC)",
    )


def _report_loop(
    context: CheckContext,
    identity: Defined[Identity],
    keys: Keys,
    top: x509.Certificate,
    issuer: x509.Certificate,
) -> None:
    """Report chain certificates that issued each other, so no root is reached."""
    context.report(
        identity,
        keys,
        f"identity '{identity.name}': the chain loops: "
        f"{top.subject.rfc4514_string()} was issued by "
        f"{issuer.subject.rfc4514_string()}, which is already in the chain, so it "
        "never reaches a self-signed root CA and servers accept it only when they "
        "trust one of these CAs directly; ask the CA for the chain up to its root",
        "warning",
    )


def _check_top(
    context: CheckContext,
    identity: Defined[Identity],
    keys: Keys,
    top: x509.Certificate,
) -> None:
    """Warn when the chain sent to servers stops below its root CA's certificate.

    Servers usually trust only root CAs, so every intermediate CA must be sent.
    OpenSSL completes a client's chain from the job's truststore, so an
    intermediate there counts for the jobs that use that truststore (see
    runner.tls.checks.path_to_root). Offline, an issuer is known to be an
    intermediate only when a truststore of this run contains it. An issuer found
    nowhere is most often the root CA that only the server trusts, so it is not
    reported: doctor compares the chain with the CAs that the server accepts.
    """
    if is_self_signed(top):
        return
    issuer = top.issuer.rfc4514_string()
    prefix = (
        f"identity '{identity.name}': the chain ends at {top.subject.rfc4514_string()}"
    )
    known = context.trusted.get(top.issuer)
    if known is None:
        return
    self_signed, stores = known
    if self_signed:
        return
    jobs = [
        job
        for job in context.config.jobs.values()
        if job.model.identity == identity.name
    ]
    uncovered = [job.name for job in jobs if job.model.truststore not in stores]
    if jobs and not uncovered:
        return
    where = ", ".join(f"'{name}'" for name in sorted(stores))
    reason = (
        f"jobs {', '.join(uncovered)} use a truststore without it"
        if uncovered
        else "no job uses a truststore with it"
    )
    context.report(
        identity,
        keys,
        f"{prefix}, but its issuer {issuer} is an intermediate CA (truststore "
        f"{where} contains it) and {reason}, so servers that trust only the root "
        "CA reject the client; add that certificate to 'chain:'",
        "warning",
    )


def _digest(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())
