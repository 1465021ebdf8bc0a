"""Variable expansion, redaction, status matching and the libcurl check."""

from __future__ import annotations

import pycurl
import pytest

from runner.config.expand import Expander
from runner.config.units import parse_duration, parse_size
from runner.errors import JobConfigError, PlatformError
from runner.execution.expect import status_matches
from runner.report.redact import REDACTED, redact_headers, redact_url
from runner.transport.capabilities import check_capabilities


def test_expansion_replaces_variables() -> None:
    expander = Expander({"REGION": "eu"}, "job 'x'")
    assert (
        expander.expand("https://${REGION}.api.test/", "url") == "https://eu.api.test/"
    )


def test_double_dollar_is_a_literal() -> None:
    expander = Expander({}, "job 'x'")
    assert expander.expand("price $${AMOUNT}", "body") == "price ${AMOUNT}"


def test_missing_variable_names_it() -> None:
    expander = Expander({}, "job 'x'")
    with pytest.raises(
        JobConfigError, match="variable API_REGION used in url is not set"
    ):
        expander.expand("https://${API_REGION}.test/", "url")


def test_secret_looking_values_are_remembered() -> None:
    expander = Expander({"API_TOKEN": "t0k3n", "REGION": "eu"}, "job 'x'")
    expander.expand("?token=${API_TOKEN}&r=${REGION}", "url")
    assert expander.secret_values == {"t0k3n"}


def test_json_strings_are_expanded() -> None:
    expander = Expander({"ITEM": "widget"}, "job 'x'")
    assert expander.expand_json({"item": "${ITEM}", "n": 2}, "json") == {
        "item": "widget",
        "n": 2,
    }


def test_url_password_is_redacted() -> None:
    assert (
        redact_url("https://user:pw@api.test/x")
        == f"https://user:{REDACTED}@api.test/x"
    )


def test_secret_query_parameters_are_redacted() -> None:
    redacted = redact_url("https://api.test/x?api_key=abc&page=2")
    assert redacted == f"https://api.test/x?api_key={REDACTED}&page=2"


def test_known_secret_values_are_redacted() -> None:
    assert "s3cr3t" not in redact_url("https://api.test/s3cr3t/x", ["s3cr3t"])


def test_credential_headers_are_redacted() -> None:
    headers = redact_headers([("Set-Cookie", "a=1"), ("Content-Type", "text/plain")])
    assert headers == {"Set-Cookie": REDACTED, "Content-Type": "text/plain"}


def test_repeated_headers_are_joined() -> None:
    headers = redact_headers([("Vary", "Accept"), ("Vary", "Origin")])
    assert headers == {"Vary": "Accept, Origin"}


@pytest.mark.parametrize(
    ("expected", "status", "matches"),
    [
        ("2xx", 204, True),
        ("2xx", 301, False),
        ("20x", 201, True),
        (200, 200, True),
        (200, 201, False),
        ([200, "3xx"], 302, True),
        ([200, "3xx"], 404, False),
    ],
)
def test_status_matching(
    expected: int | str | list[int | str], status: int, matches: bool
) -> None:
    assert status_matches(expected, status) is matches


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("10s", 10), ("5m", 300), ("1h30m", 5400), (7, 7), ("1.5", 1.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [("10MiB", 10 * 1024**2), ("512KiB", 512 * 1024), ("1GB", 10**9), (65536, 65536)],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_libcurl_without_openssl_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    info = list(pycurl.version_info())
    info[5] = "GnuTLS/3.7.9"
    monkeypatch.setattr(pycurl, "version_info", lambda: tuple(info))
    check_capabilities.cache_clear()
    try:
        with pytest.raises(PlatformError, match="needs OpenSSL"):
            check_capabilities()
    finally:
        monkeypatch.undo()
        check_capabilities.cache_clear()


def test_old_libcurl_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    info = list(pycurl.version_info())
    info[1] = "7.68.0"
    monkeypatch.setattr(pycurl, "version_info", lambda: tuple(info))
    check_capabilities.cache_clear()
    try:
        with pytest.raises(PlatformError, match="too old"):
            check_capabilities()
    finally:
        monkeypatch.undo()
        check_capabilities.cache_clear()


def test_wheel_libcurl_is_accepted() -> None:
    assert check_capabilities().ssl_library.startswith("OpenSSL/")
