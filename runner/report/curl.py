"""Write a curl command line that makes the same call as a planned request.

The command names the key material by its file paths, as the job file does, so
a person can reproduce a call by hand. Secrets stay out of it. A header value
that the job reads from ``${NAME}`` becomes ``"$NAME"``, which the shell fills
in. A credential header written in the job file reads REDACTED, and passwords
become a reference to their environment variable or file. Where curl cannot use
the job's key material as it is (a chain in separate files, several CA files, a
PKCS#12 truststore, encryption that curl on OpenSSL 3 cannot read), a shell
comment after the command explains how to prepare it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from runner.config.expand import split_references
from runner.config.loader import Defined
from runner.config.models import Identity, Truststore
from runner.report.curl_material import identity_options, truststore_options
from runner.report.redact import REDACTED, is_secret_name, redact_headers, scrub
from runner.transport.request import Request

# An authentication scheme before a variable, such as "Bearer " in a credential
# header, is shown; other text of a credential header might be a secret.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9._~+/-]* ")


@dataclass
class CurlCommand:
    """Shell words (already quoted) and the comments that go with them."""

    words: list[str] = field(default_factory=lambda: ["curl"])
    notes: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)

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
    header_templates: Mapping[str, tuple[str, str]] | None = None,
) -> list[str]:
    """Return the lines of a curl command (and its notes) for one request.

    ``url`` is the redacted URL of the record; ``secret_values`` are the expanded
    values to hide in headers and the body. ``header_templates`` are the
    request's headers as the job file writes them, by lowercase name, so that
    values read from variables become shell variables.
    """
    command = CurlCommand()
    if identity is not None:
        identity_options(command, identity)
    truststore_options(command, truststore)
    _transfer_options(command, request)
    templates = header_templates or {}
    for name, value in request.headers:
        _, template = templates.get(name.lower(), (name, None))
        word = _header(command, name, value, template, secret_values)
        command.add_raw("--header", word)
    if request.body is not None:
        body = scrub(request.body.decode("utf-8", "replace"), secret_values)
        command.add("--data-binary", body)
    if command.variables:
        names = ", ".join(f"${name}" for name in dict.fromkeys(command.variables))
        command.notes.append(
            f"the shell fills in {names} from its environment, as the job does; "
            "set them before running the command"
        )
    lines = _wrap(command.words)
    lines[-1] += " \\"
    lines.append("    " + shlex.quote(url))
    return lines + [f"# {note}" for note in command.notes]


def _header(
    command: CurlCommand,
    name: str,
    value: str,
    template: str | None,
    secret_values: frozenset[str],
) -> str:
    """Return the shell word of one --header argument, noting what it needs."""
    if not value.strip(" \t"):
        # curl sends "Name;" as a header with an empty value, and drops "Name:".
        return shlex.quote(f"{name};")
    parts = split_references(template) if template is not None else [(value, False)]
    variables = [piece for piece, is_variable in parts if is_variable]
    if is_secret_name(name) and not (variables and _shows_no_secret(parts)):
        origin = (
            "mixes text written in the job file with variables"
            if variables
            else "is written in the job file"
        )
        command.notes.append(
            f"the value of header {name} {origin}; put it in place of {REDACTED}"
        )
        return shlex.quote(f"{name}: {REDACTED}")
    if not variables:
        shown = redact_headers([(name, value)], secret_values)[name]
        return shlex.quote(f"{name}: {shown}")
    command.variables.extend(variables)
    return _shell_word([(f"{name}: ", False), *parts])


def _shows_no_secret(parts: list[tuple[str, bool]]) -> bool:
    """Tell whether the literal text of a credential header is safe to show.

    Safe are a leading authentication scheme ("Bearer ") and separators without
    letters or digits between variables ("${USER}:${PASSWORD}").
    """
    for index, (piece, is_variable) in enumerate(parts):
        if is_variable:
            continue
        if index == 0 and _SCHEME.fullmatch(piece):
            continue
        if any(character.isalnum() for character in piece):
            return False
    return True


def _shell_word(parts: list[tuple[str, bool]]) -> str:
    """Join literal text (single-quoted) and variables ("$NAME") into one word."""
    words: list[str] = []
    literal = ""
    for piece, is_variable in parts:
        if not is_variable:
            literal += piece
            continue
        if literal:
            words.append(shlex.quote(literal))
            literal = ""
        words.append(f'"${piece}"')
    if literal:
        words.append(shlex.quote(literal))
    return "".join(words)


def _transfer_options(command: CurlCommand, request: Request) -> None:
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
