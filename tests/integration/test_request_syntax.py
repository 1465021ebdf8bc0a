"""URLs and headers on the wire: encoding, empty values, and bad values from
variables, which fail their job with config_invalid while other jobs run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki

RunCli = Callable[..., CliResult]
WriteJob = Callable[..., Path]


def two_jobs(pki: Pki, port: int, endpoint: str, **job: str) -> str:
    """Return a file with job 'checked' (one endpoint) and a healthy job 'other'."""
    keys = [f"    {key}: {value}" for key, value in job.items()]
    return "\n".join(
        [
            "version: 1",
            "identities:",
            "  me:",
            f"    certificate: {pki.path('client-cert.pem')}",
            f"    key: {pki.path('client-key.pem')}",
            "truststores:",
            f"  ca: {{certificates: [{pki.path('ca.pem')}]}}",
            "jobs:",
            "  checked:",
            "    identity: me",
            "    truststore: ca",
            "    timeout: 5s",
            *keys,
            "    endpoints:",
            f"      - {endpoint}",
            "  other:",
            "    identity: me",
            "    truststore: ca",
            "    timeout: 5s",
            f"    endpoints: [{{url: 'https://127.0.0.1:{port}/health'}}]",
        ]
    )


def records_by_job(result: CliResult) -> dict[str, dict[str, Any]]:
    return {record["job"]: record for record in result.records}


def run(run_cli: RunCli, write_job: WriteJob, text: str) -> dict[str, dict[str, Any]]:
    result = run_cli("run", "--once", "--json", str(write_job(text)))
    records = records_by_job(result)
    assert set(records) == {"checked", "other"}, result.stderr
    assert records["other"]["ok"] is True
    return records


def echoed(record: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(record["body"])
    return document


@pytest.fixture
def server(mtls_server: Callable[..., MtlsServer]) -> MtlsServer:
    return mtls_server()


def test_non_ascii_path_percent_encoded(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, server: MtlsServer
) -> None:
    url = f"https://127.0.0.1:{server.port}/echo/caf\u00e9?q=\u00fc"
    records = run(run_cli, write_job, two_jobs(pki, server.port, f"url: {url}"))
    assert echoed(records["checked"])["path"] == "/echo/caf%C3%A9?q=%C3%BC"
    assert records["checked"]["url"].endswith("/echo/caf%C3%A9?q=%C3%BC")


def test_latin1_header_value_sent(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, server: MtlsServer
) -> None:
    url = f"https://127.0.0.1:{server.port}/echo"
    endpoint = f"{{url: '{url}', headers: {{X-Word: caf\u00e9}}}}"
    records = run(run_cli, write_job, two_jobs(pki, server.port, endpoint))
    # http.server decodes header bytes as ISO-8859-1, as they were sent.
    assert echoed(records["checked"])["headers"]["X-Word"] == "caf\u00e9"


def test_empty_header_value_sent(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, server: MtlsServer
) -> None:
    endpoint = (
        f"{{url: 'https://127.0.0.1:{server.port}/echo', headers: {{X-Empty: ''}}}}"
    )
    records = run(run_cli, write_job, two_jobs(pki, server.port, endpoint))
    assert echoed(records["checked"])["headers"]["X-Empty"] == ""


def failed(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    record = records["checked"]
    assert record["ok"] is False
    assert record["error"]["kind"] == "config_invalid"
    error: dict[str, Any] = record["error"]
    return error


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("70000", "has port 70000, which is out of range"),
        ("0", "ports are 1 to 65535"),
        ("x", "has port 'x', which is not a number"),
    ],
)
def test_port_from_variable(
    run_cli: RunCli,
    write_job: WriteJob,
    pki: Pki,
    server: MtlsServer,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    phrase: str,
) -> None:
    monkeypatch.setenv("TEST_PORT", value)
    endpoint = "url: https://127.0.0.1:${TEST_PORT}/health"
    error = failed(run(run_cli, write_job, two_jobs(pki, server.port, endpoint)))
    assert phrase in error["message"]


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("/a b", "contains a space"),
        ("/a\r\nHost: x", "control character U+000D"),
        ("/\x1b[31m", "control character U+001B"),
    ],
)
def test_bad_url_from_variable(
    run_cli: RunCli,
    write_job: WriteJob,
    pki: Pki,
    server: MtlsServer,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    phrase: str,
) -> None:
    monkeypatch.setenv("TEST_PATH", value)
    endpoint = f"url: https://127.0.0.1:{server.port}${{TEST_PATH}}"
    error = failed(run(run_cli, write_job, two_jobs(pki, server.port, endpoint)))
    assert phrase in error["message"]


def test_url_message_hides_secret(
    run_cli: RunCli,
    write_job: WriteJob,
    pki: Pki,
    server: MtlsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_API_TOKEN", "SEKRIT-VALUE")
    monkeypatch.setenv("TEST_PATH", "/a b")
    endpoint = f"url: https://127.0.0.1:{server.port}${{TEST_PATH}}/${{TEST_API_TOKEN}}"
    text = two_jobs(pki, server.port, endpoint)
    result = run_cli("run", "--once", "--json", str(write_job(text)))
    error = failed(records_by_job(result))
    assert "contains a space" in error["message"]
    assert "SEKRIT-VALUE" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("a\r\nX-Injected: yes", "contains a line break (CR or LF)"),
        ("a\x07b", "control character U+0007"),
        ("\u0142", "outside ISO-8859-1"),
    ],
)
def test_bad_header_from_variable(
    run_cli: RunCli,
    write_job: WriteJob,
    pki: Pki,
    server: MtlsServer,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    phrase: str,
) -> None:
    monkeypatch.setenv("TEST_HEADER", value)
    endpoint = f"url: https://127.0.0.1:{server.port}/echo"
    text = two_jobs(pki, server.port, endpoint, headers="{X-A: '${TEST_HEADER}'}")
    result = run_cli("run", "--once", "--json", str(write_job(text)))
    error = failed(records_by_job(result))
    assert phrase in error["message"]
    assert "X-Injected" not in result.stdout + result.stderr


def test_job_named_twice_runs_once(
    run_cli: RunCli, write_job: WriteJob, pki: Pki, server: MtlsServer
) -> None:
    path = write_job(two_jobs(pki, server.port, "url: https://127.0.0.1:1/x"))
    result = run_cli(
        "run", "--once", "--json", "--job", "other", "--job", "other", str(path)
    )
    assert [record["job"] for record in result.records] == ["other"]
