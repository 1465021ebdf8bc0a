"""Concurrency limits, counted as simultaneous TLS connections at the test server.

Each call waits 300 ms at the server, so the calls that the limits allow overlap.
Connections stay open between calls, so the server's maximum of open connections
is the number of calls the runner had in flight at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.demo.server import MtlsServer
from tests.conftest import Pki


def slow_job(pki: Pki, servers: list[MtlsServer], calls_per_server: int) -> str:
    endpoints = "".join(
        f"\n          - {{name: call-{index}-{i}, url: '{server.url('/delay/300')}'}}"
        for index, server in enumerate(servers)
        for i in range(calls_per_server)
    )
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
      slow:
        identity: ec
        truststore: test-ca
        endpoints:{endpoints}
    """


def test_global_limit_caps_connections(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
) -> None:
    server = mtls_server()
    path = write_job(slow_job(pki, [server], 9))

    result = run_cli("run", "--once", "--concurrency", "3", str(path))

    assert result.code == 0
    assert server.stats.max_open_connections <= 3
    assert server.stats.max_open_connections == 3


def test_host_limit_caps_each_host(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
) -> None:
    servers = [mtls_server(), mtls_server()]
    path = write_job(slow_job(pki, servers, 6))

    result = run_cli(
        "run", "--once", "--concurrency", "8", "--host-concurrency", "2", str(path)
    )

    assert result.code == 0
    assert [s.stats.max_open_connections for s in servers] == [2, 2]


def test_host_limit_defaults_to_six(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
) -> None:
    server = mtls_server()
    path = write_job(slow_job(pki, [server], 12))

    result = run_cli("run", "--once", str(path))

    assert result.code == 0
    assert server.stats.max_open_connections == 6


def test_host_limit_zero_rejected(
    capsys: pytest.CaptureFixture[str], write_job: Callable[..., Path]
) -> None:
    path = write_job("version: 1\n")

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--once", "--host-concurrency", "0", str(path)])

    assert exit_info.value.code == 2
    assert "--host-concurrency: expected 1 or more, got 0" in capsys.readouterr().err
