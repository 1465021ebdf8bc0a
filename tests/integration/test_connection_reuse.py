"""Connection reuse against a real nginx: identities stay apart, pools outlive ticks.

nginx's /whoami returns the subject of the client certificate of the connection
($ssl_client_s_dn), so a call carried on another identity's connection shows the
wrong subject in its record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.config.loader import load_config
from runner.execution.material import KeyMaterial
from runner.execution.once import run_once
from runner.execution.plan import PlannedCall, plan_calls
from runner.report.records import Record
from runner.transport.executor import Executor
from runner.transport.request import Request, Response
from tests.conftest import Pki
from tests.nginx import NginxServer

pytestmark = pytest.mark.nginx

SUBJECTS = {
    "as-ec": "CN=client-ec,O=mtls-runner",
    "as-rsa": "CN=client-rsa,O=mtls-runner",
}


class ListSink:
    """Keep records in memory."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def emit(self, record: Record) -> None:
        self.records.append(record)

    def close(self) -> None:
        pass


def keystores(pki: Pki) -> str:
    return f"""
    version: 1
    identities:
      ec:
        certificate: {pki.path("client-cert.pem")}
        key: {pki.path("client-key.pem")}
      rsa:
        certificate: {pki.path("client-rsa-cert.pem")}
        key: {pki.path("client-rsa-key.pem")}
      foreign:
        certificate: {pki.path("client-foreign-cert.pem")}
        key: {pki.path("client-foreign-key.pem")}
    truststores:
      test-ca:
        certificates: [{pki.path("ca.pem")}]
    """


def job(name: str, url: str, count: int, identity: str | None) -> str:
    endpoints = "".join(
        f"\n          - {{name: call-{i}, url: '{url}'}}" for i in range(count)
    )
    identity_line = f"identity: {identity}" if identity else ""
    return f"""
      {name}:
        {identity_line}
        truststore: test-ca
        endpoints:{endpoints}"""


def isolation_jobs(url: str) -> str:
    return "\n    jobs:" + "".join(
        [
            job("as-ec", url, 6, "ec"),
            job("as-rsa", url, 6, "rsa"),
            job("without-identity", url, 2, None),
            job("as-foreign", url, 2, "foreign"),
        ]
    )


@pytest.mark.parametrize("concurrency", ["1", "8"])
def test_identities_present_own_certificate(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
    concurrency: str,
) -> None:
    server = nginx()
    path = write_job(keystores(pki) + isolation_jobs(server.url("/whoami")))

    result = run_cli("run", "--once", "--json", "--concurrency", concurrency, str(path))

    by_job: dict[str, list[Record]] = {}
    for record in result.records:
        by_job.setdefault(record["job"], []).append(record)
    for name, subject in SUBJECTS.items():
        assert len(by_job[name]) == 6
        for record in by_job[name]:
            assert record["body"].strip() == subject
    for record in by_job["without-identity"]:
        assert record["error"]["kind"] == "client_certificate_required"
    for record in by_job["as-foreign"]:
        assert record["error"]["kind"] == "client_certificate_rejected"


def plan(path: Path) -> list[PlannedCall]:
    config = load_config([str(path)])
    return plan_calls(config, list(config.jobs), KeyMaterial(config))


def run_tick(calls: list[PlannedCall], executor: Executor) -> list[Record]:
    sink = ListSink()
    run_once(calls, executor, sink)
    return sink.records


def responses_of(calls: list[PlannedCall], executor: Executor) -> list[Response]:
    responses: list[Response] = []

    def collect(_: Request, response: Response) -> None:
        responses.append(response)

    for call in calls:
        assert call.request is not None
        executor.submit(call.request, collect)
    executor.run_until_idle()
    return responses


def test_pool_survives_server_restart(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
) -> None:
    server = nginx()
    path = write_job(
        keystores(pki) + "\n    jobs:" + job("as-ec", server.url("/whoami"), 8, "ec")
    )
    calls = plan(path)
    executor = Executor(concurrency=4)
    try:
        first = run_tick(calls, executor)
        server.restart()
        second = run_tick(calls, executor)
    finally:
        executor.close()

    assert [r["ok"] for r in first] == [True] * 8
    assert [r["ok"] for r in second] == [True] * 8
    for record in second:
        assert record["tls"]["version"] in ("TLSv1.2", "TLSv1.3")


def test_stopped_server_fails_next_tick(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
) -> None:
    server = nginx()
    path = write_job(
        keystores(pki) + "\n    jobs:" + job("as-ec", server.url("/whoami"), 2, "ec")
    )
    calls = plan(path)
    executor = Executor(concurrency=2)
    try:
        first = run_tick(calls, executor)
        server.stop()
        second = run_tick(calls, executor)
    finally:
        executor.close()

    assert [r["ok"] for r in first] == [True, True]
    assert [r["error"]["kind"] for r in second] == ["connection_failed"] * 2


def test_next_tick_reuses_connections(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
) -> None:
    server = nginx()
    path = write_job(
        keystores(pki) + "\n    jobs:" + job("as-ec", server.url("/whoami"), 12, "ec")
    )
    calls = plan(path)
    executor = Executor(concurrency=3)
    try:
        first = responses_of(calls, executor)
        second = responses_of(calls, executor)
    finally:
        executor.close()

    first_connections = {r.connection_id for r in first}
    assert len(first_connections) <= 3
    assert {r.connection_id for r in second} <= first_connections
    assert [r.reused_connection for r in second] == [True] * 12


def test_reused_connections_carry_tls_facts(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
    run_cli: Callable[..., Any],
) -> None:
    server = nginx()
    path = write_job(
        keystores(pki) + "\n    jobs:" + job("as-ec", server.url("/whoami"), 40, "ec")
    )

    result = run_cli("run", "--once", "--json", "--concurrency", "4", str(path))

    for record in result.records:
        tls = record["tls"]
        assert tls["version"] in ("TLSv1.2", "TLSv1.3")
        assert tls["cipher"]
        assert tls["subject"] == "CN=localhost,O=mtls-runner"
        assert tls["not_after"]


def test_resolve_entries_stay_in_their_job(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
    tmp_path: Path,
) -> None:
    issued = pki.ca.issue("svc", server=True, dns_names=["svc.invalid"])
    certificate, key = issued.write(tmp_path, "svc")
    server = nginx(certificate=certificate, key=key)
    url = f"https://svc.invalid:{server.port}/whoami"
    jobs = f"""
    jobs:
      mapped:
        identity: ec
        truststore: test-ca
        resolve: {{svc.invalid: 127.0.0.1}}
        endpoints: [{{url: '{url}'}}]
      unmapped:
        identity: ec
        truststore: test-ca
        timeout: 3s
        endpoints: [{{url: '{url}'}}]
    """
    config = load_config([str(write_job(keystores(pki) + jobs))])
    material = KeyMaterial(config)
    executor = Executor(concurrency=1)
    try:
        mapped = run_tick(plan_calls(config, ["mapped"], material), executor)
        unmapped = run_tick(plan_calls(config, ["unmapped"], material), executor)
    finally:
        executor.close()

    assert mapped[0]["ok"] is True
    assert unmapped[0]["status"] is None


def test_unused_pool_closed_then_rebuilt(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    write_job: Callable[..., Path],
) -> None:
    """Pools of replaced key material do not pile up in a long-running service."""
    server = nginx()
    path = write_job(
        keystores(pki) + "\n    jobs:" + job("as-ec", server.url("/whoami"), 2, "ec")
    )
    calls = plan(path)
    executor = Executor(concurrency=2)
    try:
        run_tick(calls, executor)
        executor.close_unused_pools(now=time.monotonic())
        kept = executor.pool_count
        executor.close_unused_pools(now=time.monotonic() + executor.pool_idle_seconds)
        closed = executor.pool_count
        again = run_tick(calls, executor)
    finally:
        executor.close()

    assert kept == 1
    assert closed == 0
    assert [r["ok"] for r in again] == [True, True]
