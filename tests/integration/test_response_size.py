"""Large responses: memory stays bounded, max_response_bytes stops the call."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import Pki
from tests.nginx import NginxServer

MIB = 1024 * 1024
LARGE = 64 * MIB
# Peak RSS may grow by libcurl's buffers and allocator slack, far below the body.
MAX_GROWTH_KIB = 16 * 1024

# Runs in a fresh interpreter, so the peak RSS (ru_maxrss) belongs to this call
# alone: a small call first loads every module and the key material.
MEASURE = """
import json, resource, sys
from runner.cli import main
small, large, log = sys.argv[1:4]
main(["run", "--once", "-q", small])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(["run", "--once", "-q", "--response-log", log, large])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "growth_kib": after - before}))
"""


def download_job(pki: Pki, url: str, http_version: str, limit: str = "") -> str:
    limit_line = f"max_response_bytes: {limit}" if limit else ""
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
      download:
        identity: ec
        truststore: test-ca
        http_version: "{http_version}"
        {limit_line}
        endpoints: [{{url: '{url}'}}]
    """


@pytest.mark.nginx
@pytest.mark.parametrize("http_version", ["1.1", "2"])
def test_large_response_memory_bounded(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
    tmp_path: Path,
    http_version: str,
) -> None:
    server = nginx(http2=True)
    server.write_file("small", b"s" * 1024)
    server.write_file("large", b"x" * LARGE)
    small = write_job(
        download_job(pki, server.url("/files/small"), http_version), "small.yaml"
    )
    large = write_job(
        download_job(pki, server.url("/files/large"), http_version), "large.yaml"
    )
    log = tmp_path / "records.jsonl"
    root = Path(__file__).resolve().parents[2]

    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, str(small), str(large), str(log)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        check=True,
    )

    result = json.loads(completed.stdout.splitlines()[-1])
    record = json.loads(log.read_text())
    assert result["code"] == 0
    assert record["body_bytes"] == LARGE
    assert len(record["body"]) == 4096
    assert result["growth_kib"] < MAX_GROWTH_KIB


@pytest.mark.nginx
def test_announced_size_over_limit_fails(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
) -> None:
    server = nginx()
    server.write_file("large", b"x" * (4 * MIB))
    path = write_job(download_job(pki, server.url("/files/large"), "1.1", limit="1MiB"))

    result = run_cli("run", "--once", "--json", str(path))

    error = result.records[0]["error"]
    assert result.code == 1
    assert error["kind"] == "unexpected_response"
    assert "larger than max_response_bytes (1048576 bytes)" in error["message"]
    assert "announced 4194304 bytes (Content-Length)" in error["message"]


def test_streamed_size_over_limit_fails(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
) -> None:
    server = mtls_server()
    url = server.url(f"/chunked/{4 * MIB}")
    path = write_job(download_job(pki, url, "1.1", limit="1MiB"))

    result = run_cli("run", "--once", "--json", str(path))

    record = result.records[0]
    assert record["error"]["kind"] == "unexpected_response"
    assert (
        "larger than max_response_bytes (1048576 bytes)" in (record["error"]["message"])
    )
    assert record["body_bytes"] <= 2 * MIB


def test_response_under_limit_passes(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
) -> None:
    server = mtls_server()
    url = server.url(f"/chunked/{MIB}")
    path = write_job(download_job(pki, url, "1.1", limit="1MiB"))

    result = run_cli("run", "--once", "--json", str(path))

    assert result.records[0]["ok"] is True
    assert result.records[0]["body_bytes"] == MIB
