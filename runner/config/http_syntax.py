"""Check URLs and header fields against what HTTP and libcurl accept.

The same rules run twice: on the text of a job file, where a part that contains a
``${NAME}`` reference is skipped, and on the expanded values when a job runs.
Each check raises ValueError with a message that describes the problem without
repeating the value, so that callers can show the value redacted.

Decisions that differ between tools:

- Non-ASCII characters in the path, query or fragment are percent-encoded as
  UTF-8 before the request is sent, as browsers do (libcurl 8 would send the raw
  bytes). A non-ASCII host name is rejected with its IDNA (``xn--``) form in the
  hint, because the pycurl wheels have no IDN support.
- Spaces and control characters are rejected in URLs (libcurl reports "Bad path").
- Header values are sent as ISO-8859-1 bytes, as Python's http.client does, so
  characters above U+00FF are rejected. CR, LF and other control characters
  except the horizontal tab are rejected, because they would end the header line.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

MAX_PORT = 65535
# RFC 9110, section 5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
_VALUE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BEYOND_LATIN_1 = re.compile(r"[^\x00-\xff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_REFERENCE = "${"
TOKEN_CHARACTERS = "letters, digits and !#$%&'*+-.^_`|~"


def check_url(url: str, *, template: bool = False) -> None:
    """Raise ValueError when ``url`` is no https URL that libcurl can send.

    With ``template``, parts that contain a ``${NAME}`` reference are not checked,
    because their value is known only at run time.
    """
    forbidden = _URL_FORBIDDEN.search(url)
    if forbidden is not None:
        raise ValueError(_forbidden_in_url(forbidden))
    if template and url.startswith(_REFERENCE):
        return  # the scheme comes from a variable
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ValueError(f"is not a valid URL ({e})") from None
    if parts.scheme.lower() != "https":
        raise ValueError("does not use https; mtls-runner calls HTTPS endpoints only")
    host, port = split_authority(parts.netloc)
    if not (template and _REFERENCE in host):
        _check_host(host)
    if port is not None and not (template and _REFERENCE in port):
        _check_port(port)


def encode_url(url: str) -> str:
    """Percent-encode the non-ASCII characters of a checked URL as UTF-8."""
    return _NON_ASCII.sub(lambda match: quote(match.group(), safe=""), url)


def split_authority(netloc: str) -> tuple[str, str | None]:
    """Return the host and the port text of a URL's authority (port None if absent).

    Unlike urllib's ``port`` property this never raises, so that a port from a
    variable or out of range can be reported with a message of our own.
    """
    host_port = netloc.rpartition("@")[2]
    if host_port.startswith("["):
        host, _, rest = host_port[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    host, separator, port = host_port.partition(":")
    return host, port if separator else None


def check_header_name(name: str) -> str:
    """Return ``name`` when it is an HTTP field name; raise ValueError otherwise."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(
            f"invalid header name {name!r}; a header name is {TOKEN_CHARACTERS}, "
            "without spaces or ':'"
        )
    return name


def check_header_value(value: str) -> str:
    """Return ``value`` when HTTP can carry it; raise ValueError otherwise."""
    control = _VALUE_CONTROL.search(value)
    if control is not None:
        position = control.start() + 1
        if control.group() in "\r\n":
            raise ValueError(
                f"contains a line break (CR or LF) at character {position}, which "
                "would start another header; remove it"
            )
        raise ValueError(
            f"contains the control character U+{ord(control.group()):04X} at "
            f"character {position}; remove it"
        )
    wide = _BEYOND_LATIN_1.search(value)
    if wide is not None:
        raise ValueError(
            f"contains a character outside ISO-8859-1 at character {wide.start() + 1}; "
            "header values are sent as ISO-8859-1 bytes, so percent-encode the text "
            "or use its ASCII form"
        )
    return value


def _forbidden_in_url(match: re.Match[str]) -> str:
    position = match.start() + 1
    if match.group() == " ":
        return f"contains a space at character {position}; write it as %20"
    return (
        f"contains the control character U+{ord(match.group()):04X} at character "
        f"{position}; remove it, or percent-encode it"
    )


def _check_host(host: str) -> None:
    if not host:
        raise ValueError("has no host name")
    if host.isascii():
        return
    try:
        ascii_form = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(
            f"has a non-ASCII host name {host!r}; write its IDNA form (xn--...)"
        ) from None
    raise ValueError(
        f"has a non-ASCII host name {host!r}; write its IDNA form {ascii_form!r}"
    )


def _check_port(port: str) -> None:
    if port == "":
        return  # "https://host:/" means the default port, as in curl
    if not port.isascii() or not port.isdigit():
        raise ValueError(f"has port {port[:20]!r}, which is not a number")
    if len(port) > len(str(MAX_PORT)) or not 1 <= int(port) <= MAX_PORT:
        raise ValueError(
            f"has port {port[:20]}, which is out of range; ports are 1 to {MAX_PORT}"
        )
