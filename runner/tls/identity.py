"""Load client identities (keystores) into in-memory PEM blobs for libcurl.

Whatever the input format, the result is one unencrypted PKCS#8 PEM key and one PEM
chain that starts with the leaf: the certificate whose public key matches the
private key. Chain certificates may come in any order and from several files.
They are sorted from the leaf towards the root by issuer, and any that do not
link up follow in the order given.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
)

from runner.config.loader import Defined
from runner.config.models import Identity
from runner.config.secrets import resolve_secret
from runner.errors import IdentityError
from runner.tls.certinfo import CertificateInfo, public_key_fingerprint
from runner.tls.key_blob import key_blob
from runner.tls.material import Material, MaterialReader, PrivateKey
from runner.tls.pkcs12_bags import check_one_key

_SHA256 = hashes.SHA256()


@dataclass(frozen=True)
class LoadedIdentity:
    """A client identity ready for CURLOPT_SSLKEY_BLOB and CURLOPT_SSLCERT_BLOB."""

    name: str
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key_pem: bytes = field(repr=False)
    chain_pem: bytes = field(repr=False)
    sources: tuple[Path, ...] = ()

    @functools.cached_property
    def info(self) -> CertificateInfo:
        """Return the leaf's summary, computed once: every record of a call has it."""
        return CertificateInfo.of(self.leaf)

    @property
    def pool_key(self) -> str:
        """Return a digest that differs for every distinct key and chain."""
        return hashlib.sha256(self.key_pem + self.chain_pem).hexdigest()


def load_identity(defined: Defined[Identity]) -> LoadedIdentity:
    """Load, match and serialise one identity; raise IdentityError naming the file."""
    owner = f"identity '{defined.name}' ({defined.where})"
    try:
        return _load_identity(defined, owner)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        # The readers report every failure they expect. This catches what
        # cryptography raises for certificates it cannot decode (key type,
        # names, extensions), so that the other jobs still run.
        raise IdentityError(
            f"{owner}: cannot read the key material ({type(e).__name__}: {e})",
            "run 'mtls-runner validate' on the job file, and get fresh copies of "
            "the identity's files",
        ) from e


def _load_identity(defined: Defined[Identity], owner: str) -> LoadedIdentity:
    model = defined.model
    reader = MaterialReader(IdentityError, owner)
    password = resolve_secret(model.password, defined.base_dir, owner, IdentityError)
    material = Material()
    sources: list[Path] = []
    if model.pkcs12 is not None:
        path = defined.path(model.pkcs12)
        sources.append(path)
        data = reader.read_bytes(path)
        check_one_key(reader, path, data)
        bundle = reader.parse_pkcs12(path, data, password)
        if bundle.key is not None:
            material.keys.append(reader.check_key(path, bundle.key))
        if bundle.cert is not None:
            material.certificates.append(bundle.cert.certificate)
        material.certificates.extend(c.certificate for c in bundle.additional_certs)
        key_source = path
    else:
        assert model.certificate is not None
        certificate_path = defined.path(model.certificate)
        key_source = certificate_path
        for raw in [
            model.certificate,
            *([model.key] if model.key else []),
            *model.chain,
        ]:
            path = defined.path(raw)
            sources.append(path)
            material.extend(reader.parse(path, reader.read_bytes(path), password))
        if model.key is not None:
            key_source = defined.path(model.key)
    key = select_key(reader, material, key_source, model.key is None)
    leaf, chain = order_chain(reader, key, material.certificates, sources)
    return LoadedIdentity(
        name=defined.name,
        leaf=leaf,
        chain=tuple(chain),
        key_pem=key_blob(key, leaf),
        chain_pem=b"".join(c.public_bytes(Encoding.PEM) for c in [leaf, *chain]),
        sources=tuple(sources),
    )


def select_key(
    reader: MaterialReader, material: Material, source: Path, key_omitted: bool
) -> PrivateKey:
    """Return the one private key among ``material``; raise naming ``source``."""
    distinct = {public_key_fingerprint(k.public_key()): k for k in material.keys}
    if not distinct:
        if key_omitted:
            raise reader.fail(
                source,
                "no private key: the certificate file holds none and 'key' is not set",
                "add 'key: PATH' to the identity, or use a file that holds both",
            )
        raise reader.fail(source, "no private key found", "check the 'key' file")
    if len(distinct) > 1:
        raise reader.fail(
            source,
            f"{len(distinct)} different private keys found in the identity's files",
            "keep exactly one private key among the certificate and key files",
        )
    return next(iter(distinct.values()))


def order_chain(
    reader: MaterialReader,
    key: PrivateKey,
    certificates: list[x509.Certificate],
    sources: list[Path],
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Return the leaf of ``key`` and the other certificates, issuers first.

    Raises when no certificate matches the key; the message shows the SHA-256 of
    the key's public key and of each certificate's.
    """
    unique = list({c.fingerprint(_SHA256): c for c in certificates}.values())
    if not unique:
        raise reader.fail(
            sources[0], "no certificate found", "name the client certificate file"
        )
    key_fingerprint = public_key_fingerprint(key.public_key())
    leaves = [
        c for c in unique if public_key_fingerprint(c.public_key()) == key_fingerprint
    ]
    if not leaves:
        found = ", ".join(
            f"{c.subject.rfc4514_string()} ({public_key_fingerprint(c.public_key())})"
            for c in unique[:3]
        )
        raise reader.fail(
            sources[0],
            "the private key does not match any certificate: key public key SHA-256 "
            f"{key_fingerprint}, certificate public keys: {found}",
            "pair the key with the certificate issued for it (compare "
            "'openssl pkey -pubout' with 'openssl x509 -pubkey')",
        )
    # Several certificates for one key (a renewal): send the one valid longest.
    leaf = max(leaves, key=lambda c: c.not_valid_after_utc)
    remaining = [c for c in unique if c is not leaf and c not in leaves]
    chain: list[x509.Certificate] = []
    current = leaf
    while current.issuer != current.subject:
        issuer = next((c for c in remaining if _issued_by(current, c)), None)
        if issuer is None:
            break
        chain.append(issuer)
        remaining.remove(issuer)
        current = issuer
    return leaf, chain + remaining


def _issued_by(child: x509.Certificate, candidate: x509.Certificate) -> bool:
    if child.issuer != candidate.subject:
        return False
    try:
        child.verify_directly_issued_by(candidate)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def issued_by(child: x509.Certificate, candidate: x509.Certificate) -> bool:
    """Return whether ``candidate`` issued ``child``: names match, signature holds."""
    return _issued_by(child, candidate)
