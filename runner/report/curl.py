"""Write a curl command line that makes the same call as a planned request.

The command names the key material by its file paths, as the job file does, so
a person can reproduce a call by hand. Secrets stay out of it: credential
headers and expanded secret variables read REDACTED, and passwords become a
reference to their environment variable or file. Where curl cannot express the
job's key material as it is (a chain in separate files, several CA files, a
PKCS#12 truststore), a shell comment after the command explains how to prepare it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from runner.config.loader import Defined
from runner.config.models import Identity, SecretRef, Truststore
from runner.report.redact import REDACTED, redact_headers, scrub
from runner.transport.request import Request

PEM_MARKER = b"-----BEGIN"


@dataclass
class _Command:
    """Shell words (already quoted) and the comments that go with them."""

    words: list[str] = field(default_factory=lambda: ["curl"])
    notes: list[str] = field(default_factory=list)

    def add(self, *words: str) -> None:
        self.words.extend(shlex.quote(word) for word in words)

    def add_raw(self, option: str, shell_text: str) -> None:
        self.words.extend([option, shell_text])


def curl_command(
    request: Request,
    url: str,
    secret_values: frozenset[str],
    identity: Defined[Identity] | None,
    truststore: Defined[Truststore] | None,
) -> list[str]:
    """Return the lines of a curl command (and its notes) for one request.

    ``url`` is the redacted URL of the record; ``secret_values`` are the expanded
    values to hide in headers and the body.
    """
    command = _Command()
    if identity is not None:
        _identity_options(command, identity)
    _truststore_options(command, truststore)
    _transfer_options(command, request)
    for name, value in redact_headers(request.headers, secret_values).items():
        # curl sends "Name;" as a header with an empty value, and drops "Name:".
        line = f"{name};" if not value.strip(" \t") else f"{name}: {value}"
        command.add("--header", line)
    if request.body is not None:
        body = scrub(request.body.decode("utf-8", "replace"), secret_values)
        command.add("--data-binary", body)
    lines = _wrap(command.words)
    lines[-1] += " \\"
    lines.append("    " + shlex.quote(url))
    return lines + [f"# {note}" for note in command.notes]


def _identity_options(command: _Command, defined: Defined[Identity]) -> None:
    model = defined.model
    if model.pkcs12 is not None:
        command.add("--cert-type", "P12", "--cert", str(defined.path(model.pkcs12)))
        _password_option(command, defined, model.password)
        return
    assert model.certificate is not None
    certificate = defined.path(model.certificate)
    if not _is_pem(certificate):
        command.add("--cert-type", "DER")
    command.add("--cert", str(certificate))
    if model.key is not None:
        key = defined.path(model.key)
        if not _is_pem(key):
            command.add("--key-type", "DER")
        command.add("--key", str(key))
    _password_option(command, defined, model.password)
    if model.chain:
        files = " ".join(shlex.quote(str(defined.path(c))) for c in model.chain)
        command.notes.append(
            "curl sends only the certificates of the --cert file; for the chain, "
            f"use a file made by: cat {shlex.quote(str(certificate))} {files}"
        )


def _password_option(
    command: _Command,
    defined: Defined[Identity] | Defined[Truststore],
    password: str | SecretRef | None,
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
        path = shlex.quote(str(defined.path(password.file)))
        command.add_raw("--pass", f'"$(cat {path})"')


def _truststore_options(command: _Command, defined: Defined[Truststore] | None) -> None:
    if defined is None:
        command.notes.append("without --cacert curl trusts its default CA store")
        return
    model = defined.model
    paths = [defined.path(name) for name in model.certificates]
    if model.pkcs12 is not None:
        command.add("--cacert", "truststore.pem")
        command.notes.append(
            "curl reads no PKCS#12 truststore; make truststore.pem with: openssl "
            f"pkcs12 -in {shlex.quote(str(defined.path(model.pkcs12)))} -nokeys "
            "-out truststore.pem"
        )
    elif len(paths) == 1 and paths[0].is_dir():
        command.add("--capath", str(paths[0]))
        command.notes.append(
            "--capath needs OpenSSL hash names; run 'openssl rehash' on the folder"
        )
    elif len(paths) == 1:
        command.add("--cacert", str(paths[0]))
    elif paths:
        files = " ".join(shlex.quote(str(p)) for p in paths)
        command.add("--cacert", "truststore.pem")
        command.notes.append(f"make truststore.pem with: cat {files} > truststore.pem")
    if model.system:
        command.notes.append(
            "the truststore also trusts the system store; append it to the --cacert "
            "file"
        )


def _transfer_options(command: _Command, request: Request) -> None:
    if request.method == "HEAD":
        command.add("--head")
    elif request.method != "GET" or request.body is not None:
        command.add("--request", request.method)
    if request.http_version == "1.1":
        command.add("--http1.1")
    elif request.http_version == "2":
        command.add("--http2")
    for entry in request.resolve:
        command.add("--resolve", entry)
    if request.connect_timeout is not None:
        command.add("--connect-timeout", _seconds(request.connect_timeout))
    command.add("--max-time", _seconds(request.timeout))
    if request.max_response_bytes is not None:
        command.add("--max-filesize", str(request.max_response_bytes))


def _seconds(value: float) -> str:
    return f"{value:g}"


def _is_pem(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return PEM_MARKER in stream.read(4096)
    except OSError:
        return True  # the dry run has reported the unreadable file already


def _wrap(words: list[str]) -> list[str]:
    """Put each option on a line of its own, joined by shell line continuations."""
    lines: list[str] = []
    current = words[0]
    for word in words[1:]:
        if word.startswith("--") and current != words[0]:
            lines.append(current + " \\")
            current = "    " + word
        else:
            current += " " + word
    return [*lines, current]
