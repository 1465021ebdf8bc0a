"""URL and header rules, libcurl header lines, and resolve entries in any case."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config.http_syntax import (
    check_header_name,
    check_header_value,
    check_url,
    encode_url,
    split_authority,
)
from runner.config.loader import load_config
from runner.execution.material import KeyMaterial
from runner.execution.plan import plan_calls
from runner.transport.transfer import header_line
from tests.conftest import Pki

WriteJob = Callable[..., Path]


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example/",
        "HTTPS://api.example:8443/a?b=c#d",
        "https://user:pass@api.example/",
        "https://[::1]:8443/",
        "https://api.example:/",
        "https://api.example/caf\u00e9",
    ],
)
def test_url_accepted(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("http://api.example/", "does not use https"),
        ("https:///path", "has no host name"),
        ("https://api.example:65536/", "has port 65536, which is out of range"),
        ("https://api.example:99999999999999999999/", "out of range"),
        ("https://api.example:0/", "ports are 1 to 65535"),
        ("https://api.example:8o/", "has port '8o', which is not a number"),
        ("https://[::1]:70000/", "has port 70000"),
        ("https://api.example/a b", "contains a space at character 22"),
        ("https://api.example/a\tb", "control character U\\+0009"),
        ("https://api.example/\x7f", "control character U\\+007F"),
        ("https://b\u00fccher.example/", "its IDNA form 'xn--bcher-kva.example'"),
        ("https://[::1/", "is not a valid URL"),
    ],
)
def test_url_rejected(url: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "${BASE}/health",
        "https://${HOST}/health",
        "https://api.example:${PORT}/",
        "https://${HOST}:${PORT}/x",
    ],
)
def test_template_skips_variable_parts(url: str) -> None:
    check_url(url, template=True)


def test_template_checks_fixed_port() -> None:
    with pytest.raises(ValueError, match="has port 0"):
        check_url("https://${HOST}:0/", template=True)


def test_encode_url_keeps_ascii() -> None:
    url = "https://api.example/a%20b?q=%C3%A9&r=caf\u00e9#\u00fc"
    assert encode_url(url) == "https://api.example/a%20b?q=%C3%A9&r=caf%C3%A9#%C3%BC"


@pytest.mark.parametrize(
    ("netloc", "expected"),
    [
        ("api.example", ("api.example", None)),
        ("u:p@api.example:8443", ("api.example", "8443")),
        ("[::1]:443", ("::1", "443")),
        ("[::1]", ("::1", None)),
        ("${H}:${P}", ("${H}", "${P}")),
    ],
)
def test_split_authority(netloc: str, expected: tuple[str, str | None]) -> None:
    assert split_authority(netloc) == expected


@pytest.mark.parametrize("name", ["X-Request-Id", "x_a", "A!#$%&'*+.^_`|~-9"])
def test_header_name_accepted(name: str) -> None:
    assert check_header_name(name) == name


@pytest.mark.parametrize("name", ["X A", "X-A:", "", "caf\u00e9", "X(A)"])
def test_header_name_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        check_header_name(name)


@pytest.mark.parametrize("value", ["", "a\tb", "caf\u00e9", "\u00ff"])
def test_header_value_accepted(value: str) -> None:
    assert check_header_value(value) == value


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("a\r\nX-Injected: yes", "line break"),
        ("a\nb", "line break"),
        ("a\x00", "U\\+0000"),
        ("\u0100", "outside ISO-8859-1 at character 1"),
    ],
)
def test_header_value_rejected(value: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        check_header_value(value)


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("Accept", "application/json", b"Accept: application/json"),
        ("X-Empty", "", b"X-Empty;"),
        ("X-Blank", "  ", b"X-Blank;"),
        ("X-Word", "caf\u00e9", b"X-Word: caf\xe9"),
    ],
)
def test_header_line(name: str, value: str, line: bytes) -> None:
    assert header_line(name, value) == line


def planned_resolve(write_job: WriteJob, pki: Pki, resolve: str, url: str) -> object:
    text = (
        "version: 1\n"
        f"truststores: {{ca: {{certificates: [{pki.path('ca.pem')}]}}}}\n"
        "jobs:\n"
        "  j:\n"
        "    truststore: ca\n"
        f"    resolve: {resolve}\n"
        f"    endpoints: [{{url: '{url}'}}]\n"
    )
    config = load_config([str(write_job(text))])
    (call,) = plan_calls(config, ["j"], KeyMaterial(config), environ={})
    assert call.request is not None
    return call.request.resolve


def test_resolve_key_any_case(write_job: WriteJob, pki: Pki) -> None:
    resolve = planned_resolve(
        write_job, pki, "{LocalHost: 127.0.0.2}", "https://localhost:8443/x"
    )
    assert resolve == ("localhost:8443:127.0.0.2",)


def test_resolve_url_host_any_case(write_job: WriteJob, pki: Pki) -> None:
    resolve = planned_resolve(
        write_job, pki, "{api.example: '::1'}", "https://API.Example/x"
    )
    assert resolve == ("api.example:443:[::1]",)
