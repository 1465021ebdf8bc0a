"""curl options for a job's identity and truststore, naming their files by path.

Paths are absolute, so a printed command works from any folder. curl built on
OpenSSL 3 fails on two kinds of key material that the runner reads, as tried
with curl 7.88.1 on OpenSSL 3.0. An encrypted DER key gives "unable to set
private key file". A file encrypted with a cipher of OpenSSL's legacy provider,
such as the RC2 of PKCS#12 files from older tools, gives "digital envelope
routines::unsupported". For those, a note gives the openssl command that writes
a PEM copy into the current folder, its key still encrypted with the same
password, and the curl command names that copy.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from runner.config.loader import Defined
from runner.config.models import Identity, SecretRef, Truststore
from runner.report.redact import REDACTED
from runner.tls.inspection import (
    LEGACY_CIPHERS,
    encrypted_key_cipher,
    pem_encrypted_key_cipher,
    pkcs12_legacy_ciphers,
)

if TYPE_CHECKING:
    from runner.report.curl import CurlCommand

PEM_MARKER = b"-----BEGIN"
# Names of the PEM copies that conversion notes write, before the identity name.
COPY_PREFIX = "mtls-runner-"
# openssl options that load the legacy provider beside the default one.
LEGACY_PROVIDER = ("-provider", "legacy", "-provider", "default")
Password = str | SecretRef | None


def identity_options(command: CurlCommand, defined: Defined[Identity]) -> None:
    """Add --cert, --key and --pass for an identity, or a conversion note."""
    model = defined.model
    if model.pkcs12 is not None:
        _pkcs12_options(command, defined, defined.path(model.pkcs12))
        return
    assert model.certificate is not None
    certificate = defined.path(model.certificate)
    if not _is_pem(_read(certificate)):
        command.add("--cert-type", "DER")
    command.add("--cert", _absolute(certificate))
    if model.key is not None:
        _key_options(command, defined, defined.path(model.key))
    else:
        # The key sits in the certificate file, where curl finds it too,
        # unless its encryption needs the legacy provider.
        _key_options(command, defined, certificate, in_certificate_file=True)
    _password_option(command, defined, model.password)
    if model.chain:
        files = " ".join(shlex.quote(_absolute(defined.path(c))) for c in model.chain)
        command.notes.append(
            "curl sends only the certificates of the --cert file; for the chain, "
            f"use a file made by: cat {shlex.quote(_absolute(certificate))} {files}"
        )


def truststore_options(
    command: CurlCommand, defined: Defined[Truststore] | None
) -> None:
    """Add --cacert or --capath for a truststore; None is the system store."""
    if defined is None:
        command.notes.append("without --cacert curl trusts its default CA store")
        return
    model = defined.model
    paths = [defined.path(name) for name in model.certificates]
    if model.pkcs12 is not None:
        command.add("--cacert", "truststore.pem")
        command.notes.append(
            "curl reads no PKCS#12 truststore; make truststore.pem with: openssl "
            f"pkcs12 -in {shlex.quote(_absolute(defined.path(model.pkcs12)))} "
            "-nokeys -out truststore.pem"
        )
    elif len(paths) == 1 and paths[0].is_dir():
        command.add("--capath", _absolute(paths[0]))
        command.notes.append(
            "--capath needs OpenSSL hash names; run 'openssl rehash' on the folder"
        )
    elif len(paths) == 1:
        command.add("--cacert", _absolute(paths[0]))
    elif paths:
        files = " ".join(shlex.quote(_absolute(p)) for p in paths)
        command.add("--cacert", "truststore.pem")
        command.notes.append(f"make truststore.pem with: cat {files} > truststore.pem")
    if model.system:
        command.notes.append(
            "the truststore also trusts the system store; append it to the --cacert "
            "file"
        )


def _pkcs12_options(
    command: CurlCommand, defined: Defined[Identity], path: Path
) -> None:
    password = defined.model.password
    legacy = pkcs12_legacy_ciphers(_read(path))
    if not legacy:
        command.add("--cert-type", "P12", "--cert", _absolute(path))
        _password_option(command, defined, password)
        return
    copy = f"{COPY_PREFIX}{defined.name}.pem"
    command.add("--cert", copy)
    _password_option(command, defined, password)
    words = ["openssl", "pkcs12", "-legacy", "-in", _absolute(path)]
    passwords, redirection = _openssl_passwords(defined, password)
    if password is None:
        passwords += ["-noenc"]
    ciphers = " and ".join(cipher.upper() for cipher in legacy)
    command.notes.append(
        f"curl on OpenSSL 3 cannot read this PKCS#12 file, because its {ciphers} "
        f"encryption needs OpenSSL's legacy provider; make {copy}, a PEM copy "
        f"{_copy_state(password)}, with: "
        + shlex.join([*words, *passwords, "-out", copy])
        + redirection
    )


def _key_options(
    command: CurlCommand,
    defined: Defined[Identity],
    key: Path,
    *,
    in_certificate_file: bool = False,
) -> None:
    data = _read(key)
    pem = _is_pem(data)
    cipher = _cipher(data, pem)
    legacy = cipher in LEGACY_CIPHERS
    if pem and not legacy:
        if not in_certificate_file:
            command.add("--key", _absolute(key))
        return
    if not pem and cipher is None:
        command.add("--key-type", "DER", "--key", _absolute(key))
        return
    copy = f"{COPY_PREFIX}{defined.name}-key.pem"
    command.add("--key", copy)
    words = ["openssl", "pkcs8", "-topk8", *(() if pem else ("-inform", "DER"))]
    if legacy:
        words += LEGACY_PROVIDER
    passwords, redirection = _openssl_passwords(defined, defined.model.password)
    reason = (
        f"its {str(cipher).upper()} encryption needs OpenSSL's legacy provider"
        if legacy
        else "it reads no encrypted DER key"
    )
    command.notes.append(
        f"curl on OpenSSL 3 cannot use this key, because {reason}; make {copy}, a "
        f"PEM copy {_copy_state(defined.model.password)}, with: "
        + shlex.join([*words, "-in", _absolute(key), *passwords, "-out", copy])
        + redirection
    )


def _cipher(data: bytes, pem: bool) -> str | None:
    """Return the cipher of an encrypted PKCS#8 key in PEM or DER form."""
    # NOTE: only PKCS#8 keys are checked; a traditional PEM key encrypted with
    # a legacy cipher (DEK-Info: DES-CBC) still gets a plain --key option.
    return pem_encrypted_key_cipher(data) if pem else encrypted_key_cipher(data)


def _openssl_passwords(
    defined: Defined[Identity], password: Password
) -> tuple[list[str], str]:
    """Return openssl's -passin and -passout words, and a shell redirection.

    The same password encrypts the copy, so the --pass of the curl command
    applies to it. openssl reads the second line of a file given to both
    -passin and -passout, so a password file goes to -passout via stdin.
    Without words, openssl prompts for the password.
    """
    if password is None:
        return ["-passin", "pass:"], ""
    if isinstance(password, str):
        return [], ""
    if password.env is not None:
        source = f"env:{password.env}"
        return ["-passin", source, "-passout", source], ""
    assert password.file is not None
    path = _absolute(defined.path(password.file))
    return ["-passin", f"file:{path}", "-passout", "stdin"], f" < {shlex.quote(path)}"


def _copy_state(password: Password) -> str:
    if password is None:
        return "with the key unencrypted (delete it after use)"
    if isinstance(password, str):
        return (
            "whose key stays encrypted with the same password (openssl prompts for it)"
        )
    return "whose key stays encrypted with the same password"


def _password_option(
    command: CurlCommand,
    defined: Defined[Identity] | Defined[Truststore],
    password: Password,
) -> None:
    if password is None:
        return
    if isinstance(password, str):
        command.add("--pass", REDACTED)
        command.notes.append(
            "the password is written in the job file; put it in --pass"
        )
    elif password.env is not None:
        command.add_raw("--pass", f'"${password.env}"')
    elif password.file is not None:
        path = shlex.quote(_absolute(defined.path(password.file)))
        command.add_raw("--pass", f'"$(cat {path})"')


def _absolute(path: Path) -> str:
    """Return ``path`` as an absolute path, keeping links and ``..`` as written."""
    return str(path.absolute())


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""  # the dry run has reported the unreadable file already


def _is_pem(data: bytes) -> bool:
    return PEM_MARKER in data[:4096] or not data
