"""Redaction: known secret values, credential names, URLs inside response headers."""

from __future__ import annotations

from runner.report.redact import (
    MIN_SECRET_LENGTH,
    REDACTED,
    redact_headers,
    redact_url,
    scrub,
    scrub_cut_tail,
)


def test_short_secret_is_not_replaced() -> None:
    url = "https://127.0.0.1:18460/x"
    assert redact_url(url, ["1"]) == url


def test_secret_of_minimum_length_is_replaced() -> None:
    secret = "x" * MIN_SECRET_LENGTH
    assert scrub(f"a {secret} b", [secret]) == f"a {REDACTED} b"


def test_longer_secret_is_replaced_whole() -> None:
    text = scrub("token abcdefgh end", ["abcd", "abcdefgh"])
    assert text == f"token {REDACTED} end"


def test_secret_value_in_any_header_is_replaced() -> None:
    headers = redact_headers([("X-Echo", "Bearer s3cr3t-value")], ["s3cr3t-value"])
    assert headers == {"X-Echo": f"Bearer {REDACTED}"}


def test_location_password_and_token_are_redacted() -> None:
    location = "https://user:PASSWORDINLOC@x.test/?token=SECRETQ&page=2"
    headers = redact_headers([("Location", location)])
    assert headers["Location"] == (
        f"https://user:{REDACTED}@x.test/?token={REDACTED}&page=2"
    )


def test_relative_location_token_is_redacted() -> None:
    headers = redact_headers([("Content-Location", "/callback?access_token=abc")])
    assert headers["Content-Location"] == f"/callback?access_token={REDACTED}"


def test_urls_inside_link_header_are_redacted() -> None:
    link = "<https://api.test/items?sig=abc&page=2>; rel=next"
    headers = redact_headers([("Link", link)])
    assert (
        headers["Link"] == f"<https://api.test/items?sig={REDACTED}&page=2>; rel=next"
    )


def test_plain_header_values_are_kept() -> None:
    headers = redact_headers([("Content-Type", "text/plain; charset=utf-8")])
    assert headers == {"Content-Type": "text/plain; charset=utf-8"}


def test_repeated_credential_headers_collapse() -> None:
    headers = redact_headers([("Set-Cookie", f"c{i}=v") for i in range(3000)])
    assert headers == {"Set-Cookie": f"{REDACTED} (3000 values)"}


def test_header_names_join_in_any_case() -> None:
    headers = redact_headers([("Vary", "Accept"), ("vary", "Origin")])
    assert headers == {"Vary": "Accept, Origin"}


def test_secret_cut_by_body_limit_is_hidden() -> None:
    assert scrub_cut_tail("body ends with s3cr", ["s3cr3t-value"]) == (
        f"body ends with {REDACTED}"
    )


def test_uncut_text_ends_unchanged() -> None:
    assert scrub_cut_tail("body ends cleanly", ["s3cr3t-value"]) == "body ends cleanly"


def test_short_cut_start_is_kept() -> None:
    assert scrub_cut_tail("ends with s3c", ["s3cr3t-value"]) == "ends with s3c"
