"""Load truststores into one PEM blob for CURLOPT_CAINFO_BLOB.

A truststore is exclusive: libcurl gets only this blob, with its default CA file and
CA path switched off, so nothing in the environment widens it. ``system: true`` and
jobs without a truststore use the operating system's store, found the way OpenSSL
finds it: SSL_CERT_FILE and SSL_CERT_DIR when set, else OpenSSL's built-in paths.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from runner.config.loader import Defined
from runner.config.models import Truststore
from runner.config.secrets import resolve_secret
from runner.errors import JobError, TruststoreError
from runner.tls.material import MaterialReader

CERTIFICATE_SUFFIXES = {".pem", ".crt", ".cer", ".der", ".cert", ".p7b", ".p7c"}
# OpenSSL's hashed certificate folders name files by subject hash: 1a2b3c4d.0
_HASH_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")
SYSTEM_NAME = "system"


@dataclass(frozen=True)
class LoadedTruststore:
    """The trusted CA certificates of one truststore, as one PEM blob."""

    name: str
    certificates: tuple[x509.Certificate, ...]
    pem: bytes = field(repr=False)
    sources: tuple[str, ...] = ()

    @property
    def pool_key(self) -> str:
        return hashlib.sha256(self.pem).hexdigest()


def load_truststore(defined: Defined[Truststore]) -> LoadedTruststore:
    """Load one truststore; raise TruststoreError when it is unreadable or empty."""
    owner = f"truststore '{defined.name}' ({defined.where})"
    try:
        return _load_truststore(defined, owner)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        # As in load_identity: what cryptography raises for data it cannot
        # decode fails this truststore's jobs only.
        raise TruststoreError(
            f"{owner}: cannot read the certificates ({type(e).__name__}: {e})",
            "run 'mtls-runner validate' on the job file, and get fresh copies of "
            "the truststore's files",
        ) from e


def _load_truststore(defined: Defined[Truststore], owner: str) -> LoadedTruststore:
    model = defined.model
    reader = MaterialReader(TruststoreError, owner, certificates_only=True)
    certificates: list[x509.Certificate] = []
    sources: list[str] = []
    for raw in model.certificates:
        path = defined.path(raw)
        sources.append(str(path))
        if is_folder(path):
            certificates.extend(read_folder(reader, path, hashed_only=False))
        else:
            certificates.extend(read_certificate_file(reader, path))
    if model.pkcs12 is not None:
        path = defined.path(model.pkcs12)
        sources.append(str(path))
        password = resolve_secret(
            model.password, defined.base_dir, owner, TruststoreError
        )
        # NOTE: load_pkcs12 decrypts a key bag of a PKCS#12 truststore along with
        # its certificates, unlike the skipped keys of PEM and DER files.
        bundle = reader.parse_pkcs12(path, reader.read_bytes(path), password)
        if bundle.cert is not None:
            certificates.append(bundle.cert.certificate)
        certificates.extend(c.certificate for c in bundle.additional_certs)
    if model.system:
        system = load_system_truststore()
        certificates.extend(system.certificates)
        sources.extend(system.sources)
    return _build(defined.name, owner, certificates, sources)


def read_certificate_file(reader: MaterialReader, path: Path) -> list[x509.Certificate]:
    """Read the certificates of a file named under 'certificates:'.

    Raises the reader's error when the file contains none, such as a private key
    named by mistake. Pass a certificates-only reader, so that private keys are
    passed over unread.
    """
    material = reader.parse(path, reader.read_bytes(path), None)
    if material.certificates:
        return material.certificates
    keys = material.keys or material.locked or material.skipped_keys
    found = "a private key" if keys else "nothing else"
    raise reader.fail(
        path,
        f"file contains {found} but no certificate",
        "name the file of the CA certificate that signed the server's certificate; "
        "a truststore needs no private key",
    )


def load_system_truststore() -> LoadedTruststore:
    """Load the operating system's CA certificates the way OpenSSL locates them.

    cryptography warns about system CAs that break its rules, such as a
    non-positive serial number. Users cannot fix those, so its deprecation
    warnings are silenced while the store is read. Other warnings, and those
    about the job's own files, still show.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _load_system_truststore()


def _load_system_truststore() -> LoadedTruststore:
    owner = "the operating system's truststore"
    reader = MaterialReader(TruststoreError, owner, certificates_only=True)
    cafile, capaths = system_store_locations()
    certificates: list[x509.Certificate] = []
    sources: list[str] = []
    if cafile is not None and cafile.is_file():
        sources.append(str(cafile))
        certificates.extend(
            reader.parse(cafile, reader.read_bytes(cafile), None).certificates
        )
    for capath in capaths:
        if capath.is_dir():
            sources.append(str(capath))
            certificates.extend(read_folder(reader, capath, hashed_only=True))
    return _build(SYSTEM_NAME, owner, certificates, sources)


def system_store_locations() -> tuple[Path | None, list[Path]]:
    """Return OpenSSL's CA file and CA folders, honouring SSL_CERT_FILE/SSL_CERT_DIR."""
    defaults = ssl.get_default_verify_paths()
    cafile = os.environ.get(defaults.openssl_cafile_env) or defaults.openssl_cafile
    capath = os.environ.get(defaults.openssl_capath_env) or defaults.openssl_capath
    folders = [Path(p) for p in capath.split(os.pathsep) if p] if capath else []
    return (Path(cafile) if cafile else None), folders


def is_folder(path: Path) -> bool:
    """Return whether ``path`` is a folder; False for paths that cannot exist."""
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long, or with a NUL character
        return False


def read_folder(
    reader: MaterialReader, folder: Path, *, hashed_only: bool
) -> list[x509.Certificate]:
    """Read the certificate files of one folder, not its subfolders.

    Files count when their suffix is a certificate suffix or their name is an
    OpenSSL subject hash (``1a2b3c4d.0``); with ``hashed_only`` only the latter,
    as OpenSSL reads a CA path.
    """
    certificates: list[x509.Certificate] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        raise reader.fail(
            folder,
            f"cannot list folder: {e.strerror}",
            "check the folder's permissions",
        ) from e
    for entry in entries:
        hashed = bool(_HASH_NAME.fullmatch(entry.name))
        wanted = hashed or (
            not hashed_only and entry.suffix.lower() in CERTIFICATE_SUFFIXES
        )
        if not wanted or not entry.is_file():
            continue
        certificates.extend(
            reader.parse(entry, reader.read_bytes(entry), None).certificates
        )
    return certificates


def _build(
    name: str, owner: str, certificates: list[x509.Certificate], sources: list[str]
) -> LoadedTruststore:
    unique = list({c.fingerprint(hashes.SHA256()): c for c in certificates}.values())
    if not unique:
        where = ", ".join(sources) if sources else "no readable file"
        raise _empty(owner, where)
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in unique)
    return LoadedTruststore(name, tuple(unique), pem, tuple(sources))


def _empty(owner: str, where: str) -> JobError:
    return TruststoreError(
        f"{owner}: no certificate found in {where}",
        "add the PEM or DER certificate of the CA that signed the server's certificate",
    )
