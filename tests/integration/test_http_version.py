"""http_version against a real nginx: ALPN picks HTTP/2 only where both sides offer it.

nginx's /protocol returns $server_protocol, the HTTP version the call arrived on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Pki
from tests.nginx import NginxServer

pytestmark = pytest.mark.nginx


def protocol_job(pki: Pki, url: str, http_version: str | None) -> str:
    version_line = f'http_version: "{http_version}"' if http_version else ""
    return f"""
    version: 1
    identities:
      ec:
        certificate: {pki.path("client-cert.pem")}
        key: {pki.path("client-key.pem")}
    truststores:
      test-ca:
        certificates: [{pki.path("ca.pem")}]
    jobs:
      protocol:
        identity: ec
        truststore: test-ca
        {version_line}
        endpoints:
          - {{name: first, url: '{url}'}}
          - {{name: second, url: '{url}'}}
          - {{name: third, url: '{url}'}}
    """


@pytest.mark.parametrize(
    ("http2", "http_version", "expected"),
    [
        (True, "2", "HTTP/2.0"),
        (True, None, "HTTP/2.0"),
        (True, "1.1", "HTTP/1.1"),
        (False, "2", "HTTP/1.1"),
        (False, None, "HTTP/1.1"),
    ],
)
def test_http_version_negotiated(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
    http2: bool,
    http_version: str | None,
    expected: str,
) -> None:
    server = nginx(http2=http2)
    path = write_job(protocol_job(pki, server.url("/protocol"), http_version))

    result = run_cli("run", "--once", "--json", str(path))

    assert result.code == 0
    assert [r["body"].strip() for r in result.records] == [expected] * 3


def test_http2_records_carry_tls_facts(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
) -> None:
    server = nginx(http2=True)
    path = write_job(protocol_job(pki, server.url("/protocol"), "2"))

    result = run_cli("run", "--once", "--json", str(path))

    for record in result.records:
        assert record["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
        assert record["tls"]["subject"] == "CN=localhost,O=mtls-runner"
