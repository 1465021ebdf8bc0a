"""Hide secrets in URLs and headers before they reach records or logs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|auth|signature|sig$|credential|cookie|session",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Return whether a header or query parameter name suggests a credential."""
    return bool(_SECRET_NAME.search(name))


def redact_url(url: str, secret_values: Iterable[str] = ()) -> str:
    """Hide the userinfo password, secret-looking query values and known secrets."""
    for value in secret_values:
        url = url.replace(value, REDACTED)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(name) for name, _ in pairs):
            query = urlencode(
                [(n, REDACTED if is_secret_name(n) else v) for n, v in pairs],
                safe="/:",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(
    headers: Iterable[tuple[str, str]], secret_values: Iterable[str] = ()
) -> dict[str, str]:
    """Join repeated headers with ", " and hide the values of credential headers."""
    secrets = [v for v in secret_values if v]
    result: dict[str, str] = {}
    for name, value in headers:
        if is_secret_name(name):
            value = REDACTED
        else:
            for secret in secrets:
                value = value.replace(secret, REDACTED)
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result
