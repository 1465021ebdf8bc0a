"""Output that cannot be written: a closed pipe, a full disk, a missing folder.

A closed pipe ends the run quietly with 141, as a process that SIGPIPE ended
does; a full disk (/dev/full) is one error line and exit 2, in run --once and in
the service. The commands run in a subprocess, because only a real process has
standard streams that can fail.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki

TIMEOUT_S = 60
DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full")


@pytest.fixture
def job_file(
    pki: Pki, mtls_server: Callable[..., MtlsServer], write_job: Callable[..., Path]
) -> Callable[..., Path]:
    """Write a job with ``count`` endpoints on a live server, maybe scheduled."""
    server = mtls_server()

    def write(count: int = 20, schedule: str | None = None) -> Path:
        lines = [
            "version: 1",
            "identities:",
            "  me:",
            f"    certificate: {pki.path('client-cert.pem')}",
            f"    key: {pki.path('client-key.pem')}",
            "truststores:",
            f"  test-ca: {{certificates: [{pki.path('ca.pem')}]}}",
            "jobs:",
            "  many:",
            "    identity: me",
            "    truststore: test-ca",
        ]
        if schedule is not None:
            lines.append(f"    schedule: {schedule}")
        lines.append("    endpoints:")
        lines += [f"      - url: {server.url(f'/health?n={i}')}" for i in range(count)]
        return write_job("\n".join(lines) + "\n")

    return write


@pytest.fixture
def runner() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``python -m runner`` processes; kill those still running after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(*argv: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "runner", *argv],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_closed_pipe_ends_quietly(
    job_file: Callable[..., Path], runner: Callable[..., subprocess.Popen[str]]
) -> None:
    process = runner("run", "--once", "--json", str(job_file()))
    assert process.stdout is not None
    process.stdout.close()  # the reader goes away, as 'head' does
    _, stderr = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 141
    assert "Traceback" not in stderr
    assert "error" not in stderr.replace("FAIL", "")


@needs_dev_full
def test_full_stdout_is_one_error(
    job_file: Callable[..., Path], runner: Callable[..., subprocess.Popen[str]]
) -> None:
    with DEV_FULL.open("w") as full:
        process = runner("run", "--once", "--json", str(job_file()), stdout=full)
        _, stderr = process.communicate(timeout=TIMEOUT_S)
    errors = [line for line in stderr.splitlines() if "error" in line]
    assert process.returncode == 2
    assert errors == [
        "mtls-runner: error: cannot write to standard output: No space left on device"
    ]
    assert "Traceback" not in stderr


@needs_dev_full
def test_full_response_log_is_one_error(
    job_file: Callable[..., Path], runner: Callable[..., subprocess.Popen[str]]
) -> None:
    process = runner("run", "--once", "--response-log", str(DEV_FULL), str(job_file()))
    _, stderr = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 2
    assert stderr.count("mtls-runner: error: ") == 1
    assert f"cannot write to response log {DEV_FULL}: No space left" in stderr
    assert "Traceback" not in stderr


@needs_dev_full
def test_service_stops_on_full_response_log(
    job_file: Callable[..., Path], runner: Callable[..., subprocess.Popen[str]]
) -> None:
    path = job_file(count=2, schedule="every 1s")
    process = runner("run", "--response-log", str(DEV_FULL), str(path))
    _, stderr = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 2
    assert "stopping (records cannot be written)" in stderr
    assert f"error: cannot write to response log {DEV_FULL}" in stderr
    assert "Traceback" not in stderr


def test_service_ends_quietly_on_closed_pipe(
    job_file: Callable[..., Path], runner: Callable[..., subprocess.Popen[str]]
) -> None:
    path = job_file(count=2, schedule="every 1s")
    process = runner("run", "--json", str(path))
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 141
    assert "Traceback" not in stderr


def test_response_log_needs_existing_folder(
    run_cli: Callable[..., CliResult], job_file: Callable[..., Path], tmp_path: Path
) -> None:
    log = tmp_path / "missing" / "responses.jsonl"
    result = run_cli("run", "--once", "--response-log", str(log), str(job_file(1)))
    assert result.code == 2
    assert f"folder {log.parent} does not exist" in result.stderr
    assert not log.parent.exists()
