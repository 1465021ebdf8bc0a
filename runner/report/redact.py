"""Hide secrets in URLs, headers and bodies before they reach records or logs.

Two rules apply. Values of headers and query parameters whose names suggest a
credential (``is_secret_name``) are replaced, as is the password of a URL's
``user:password@``. And the values of secret-named variables that a job expanded
(``secret_values``) are replaced wherever they appear, unless they are shorter than
MIN_SECRET_LENGTH characters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"
# Replacing a value as short as "1" or "yes" everywhere would mangle the URL,
# the headers and the body, and such a value protects nothing.
MIN_SECRET_LENGTH = 4
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|auth|signature|sig$|credential|cookie|session",
    re.IGNORECASE,
)
# Response headers whose whole value is a URL, which may be relative.
_URL_HEADERS = frozenset({"location", "content-location"})
# Absolute URLs inside other header values, such as Link: <URL>; rel=next or
# Refresh: 5; url=URL.
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"']+")


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Return whether a header or query parameter name suggests a credential."""
    return bool(_SECRET_NAME.search(name))


def known_secrets(secret_values: Iterable[str]) -> list[str]:
    """Return the values to hide, sorted by length in descending order.

    A secret that contains a shorter one is then hidden whole.
    """
    kept = {value for value in secret_values if len(value) >= MIN_SECRET_LENGTH}
    return sorted(kept, key=len, reverse=True)


def scrub(text: str, secret_values: Iterable[str]) -> str:
    """Replace every known secret value in ``text`` with REDACTED."""
    return _replace(text, known_secrets(secret_values))


def _replace(text: str, secrets: list[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def scrub_cut_tail(text: str, secret_values: Iterable[str]) -> str:
    """Replace the start of a known secret at the end of text cut short.

    A record keeps only the first bytes of a body, and a secret that the cut
    splits would otherwise show its first characters. Starts shorter than
    MIN_SECRET_LENGTH stay, as they match ordinary text too often.
    """
    for value in known_secrets(secret_values):
        for length in range(len(value) - 1, MIN_SECRET_LENGTH - 1, -1):
            if text.endswith(value[:length]):
                return text[: len(text) - length] + REDACTED
    return text


def redact_url(url: str, secret_values: Iterable[str] = ()) -> str:
    """Hide the userinfo password, secret-looking query values and known secrets."""
    url = scrub(url, secret_values)
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
    """Join repeated headers with ", " and hide credentials in their values.

    Names match in any case, and the first spelling names the joined header. A
    credential header repeated N times becomes "REDACTED (N values)".
    """
    secrets = known_secrets(secret_values)
    # Lowercase name -> [first spelling, value, value, ...]
    groups: dict[str, list[str]] = {}
    for name, value in headers:
        key = name.lower()
        group = groups.get(key)
        if group is None:
            groups[key] = [name, value]
        else:
            group.append(value)
    result: dict[str, str] = {}
    for key, group in groups.items():
        name, values = group[0], group[1:]
        if is_secret_name(name):
            count = len(values)
            result[name] = REDACTED if count == 1 else f"{REDACTED} ({count} values)"
        elif len(values) == 1:
            result[name] = _redact_value(key, values[0], secrets)
        else:
            result[name] = ", ".join([_redact_value(key, v, secrets) for v in values])
    return result


def _redact_value(key: str, value: str, secrets: list[str]) -> str:
    value = _replace(value, secrets)
    if key in _URL_HEADERS:
        return redact_url(value)
    if "://" not in value:
        return value
    return _ABSOLUTE_URL.sub(lambda match: redact_url(match.group(0)), value)
