"""The service as a process: schedules, signals, reloads and certificate rotation.

Each test starts ``python -m runner run --json`` against the in-process mTLS
server and reads its records from stdout while it runs.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.demo.server import MtlsServer
from runner.tls.certinfo import fingerprint
from tests.conftest import Pki

STOP_BOUND_S = 10.0
Record = dict[str, Any]


class ServiceProcess:
    """A running service whose stdout records and stderr lines are collected."""

    def __init__(self, *paths: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runner", "run", "--json", *map(str, paths)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.records: queue.Queue[Record] = queue.Queue()
        self.seen: list[Record] = []
        self.stderr_lines: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_records, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_records(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self.records.put(json.loads(line))

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def next_record(self, timeout: float = 10.0) -> Record:
        try:
            record = self.records.get(timeout=timeout)
        except queue.Empty:
            message = f"no record in {timeout}s; stderr:\n{self.stderr}"
            raise AssertionError(message) from None
        self.seen.append(record)
        return record

    def wait_for_record(
        self, matches: Callable[[Record], bool], timeout: float = 15.0
    ) -> Record:
        deadline = time.monotonic() + timeout
        while True:
            record = self.next_record(max(0.1, deadline - time.monotonic()))
            if matches(record):
                return record

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if time.monotonic() > deadline:
                raise AssertionError(f"no log {text!r}; stderr:\n{self.stderr}")
            time.sleep(0.02)

    def stop(self, number: int = signal.SIGTERM) -> tuple[int, float]:
        """Send ``number``; return the exit code and the seconds until exit."""
        start = time.monotonic()
        self.process.send_signal(number)
        code = self.process.wait(timeout=STOP_BOUND_S)
        elapsed = time.monotonic() - start
        for reader in self._readers:
            reader.join(timeout=5)
        while not self.records.empty():
            self.seen.append(self.records.get())
        return code, elapsed

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def start_service() -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(*paths: Path) -> ServiceProcess:
        service = ServiceProcess(*paths)
        started.append(service)
        return service

    yield start
    for service in started:
        service.kill()


def job_text(
    pki: Pki,
    url: str,
    *,
    name: str = "probe",
    schedule: str = "every 1s",
    identity_file: Path | None = None,
    key_file: Path | None = None,
    timeout: str = "5s",
) -> str:
    certificate = identity_file or pki.path("client-cert.pem")
    key = "" if identity_file else f"    key: {pki.path('client-key.pem')}\n"
    if key_file is not None:
        key = f"    key: {key_file}\n"
    return (
        "version: 1\n"
        "identities:\n"
        f"  client-{name}:\n"
        f"    certificate: {certificate}\n"
        f"{key}"
        "truststores:\n"
        f"  ca-{name}: {{certificates: [{pki.path('ca.pem')}]}}\n"
        "jobs:\n"
        f"  {name}:\n"
        f"    identity: client-{name}\n"
        f"    truststore: ca-{name}\n"
        f"    schedule: {schedule}\n"
        f"    timeout: {timeout}\n"
        "    endpoints:\n"
        f"      - url: {url}\n"
    )


def test_one_second_job_runs_once_per_second(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    service = start_service(write_job(job_text(pki, server.url("/health"))))
    service.next_record()
    time.sleep(3.5)  # runs at 0, 1, 2 and 3 s after the first
    service.stop()
    assert len(service.seen) == 4, service.stderr


def test_one_second_job_does_not_drift(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    service = start_service(write_job(job_text(pki, server.url("/delay/300"))))
    starts = [_seconds(service.next_record()["time"]) for _ in range(4)]
    service.stop()
    # Each call takes 300 ms; a schedule counted from the end of the last call
    # would start the fourth run 0.9 s late.
    assert starts[3] - starts[0] == pytest.approx(3.0, abs=0.15)


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_waits_for_call_in_flight(
    number: int,
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    text = job_text(pki, server.url("/delay/1500"), schedule="every 1 minute")
    service = start_service(write_job(text))
    service.wait_for_log("running job 'probe'")
    code, _ = service.stop(number)
    assert code == 0, service.stderr
    assert [r["ok"] for r in service.seen] == [True]


def test_stop_signal_ends_service_within_bound(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    text = job_text(pki, server.url("/delay/1500"), schedule="every 1 minute")
    service = start_service(write_job(text))
    service.wait_for_log("running job 'probe'")
    _, elapsed = service.stop()
    assert elapsed < 5.0


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_abandons_calls(
    number: int,
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    text = job_text(
        pki, server.url("/delay/5000"), schedule="every 1 minute", timeout="10s"
    )
    service = start_service(write_job(text))
    service.wait_for_log("running job 'probe'")
    service.process.send_signal(number)
    service.wait_for_log("stopping (received")
    code, elapsed = service.stop(number)
    # Ended by the signal itself: a shell reports 128 + the signal's number.
    assert code == -number, service.stderr
    assert elapsed < 2.5
    assert service.seen == []
    assert (
        "calls in flight were abandoned and their records may be missing"
        in service.stderr
    )


def test_stop_signal_logs_shutdown(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    service = start_service(write_job(job_text(pki, server.url("/health"))))
    service.next_record()
    service.stop()
    assert "stopping (received SIGTERM)" in service.stderr


def test_start_up_log_lists_jobs(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/health")))
    service = start_service(path)
    service.next_record()
    service.stop()
    assert f"job files: {path}" in service.stderr
    assert "job 'probe': every 1s, endpoints: 1, next run at " in service.stderr


def test_reload_with_broken_file_keeps_old_jobs(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/health")))
    service = start_service(path)
    service.next_record()
    path.write_text("version: 1\njobs:\n  probe: {endpoints: []}\n")
    service.process.send_signal(signal.SIGHUP)
    service.wait_for_log("reload failed with 1 errors")
    after = service.next_record()
    code, _ = service.stop()
    assert after["job"] == "probe"
    assert code == 0


def test_reload_with_broken_file_logs_each_error(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/health")))
    service = start_service(path)
    service.next_record()
    path.write_text("version: 1\njobs:\n  probe: {endpoints: [], timeout: soon}\n")
    service.process.send_signal(signal.SIGHUP)
    service.wait_for_log("reload failed with 2 errors")
    service.stop()
    assert f"reload: {path}:3:" in service.stderr


def test_reload_with_valid_file_adds_job(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    # Positive control for the broken reload: a valid file does take effect.
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/health")))
    service = start_service(path)
    service.next_record()
    path.write_text(job_text(pki, server.url("/health"), name="second"))
    service.process.send_signal(signal.SIGHUP)
    record = service.wait_for_record(lambda r: r["job"] == "second")
    service.stop()
    assert record["ok"] is True


def test_rotated_certificate_is_presented(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    identity = tmp_path / "identity.pem"
    _write_atomically(identity, pki.client.key_pem() + pki.client.certificate_pem())
    text = job_text(pki, server.url("/whoami"), identity_file=identity)
    service = start_service(write_job(text))
    before = service.next_record()
    rotated = pki.client_rsa.key_pem() + pki.client_rsa.certificate_pem()
    _write_atomically(identity, rotated)
    after = service.wait_for_record(
        lambda r: r["identity"]["subject"] == "CN=client-rsa,O=mtls-runner"
    )
    service.stop()
    assert before["identity"]["subject"] == "CN=client-ec,O=mtls-runner"
    assert json.loads(after["body"])["subject"] == "CN=client-rsa,O=mtls-runner"


def test_rotation_is_logged(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    identity = tmp_path / "identity.pem"
    _write_atomically(identity, pki.client.key_pem() + pki.client.certificate_pem())
    service = start_service(
        write_job(job_text(pki, server.url("/health"), identity_file=identity))
    )
    service.next_record()
    rotated = pki.client_rsa.key_pem() + pki.client_rsa.certificate_pem()
    _write_atomically(identity, rotated)
    service.wait_for_log("presents certificate CN=client-rsa,O=mtls-runner")
    service.stop()
    assert "identity 'client-probe' of job 'probe' changed on disk" in service.stderr


def test_half_rotated_pair_keeps_last_good(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    server = mtls_server()
    certificate = tmp_path / "client-cert.pem"
    key = tmp_path / "client-key.der"
    _write_atomically(certificate, pki.client.certificate_pem())
    _write_atomically(key, pki.client.key_der())
    text = job_text(pki, server.url("/whoami"), identity_file=certificate, key_file=key)
    service = start_service(write_job(text))
    service.next_record()
    old_sha256 = fingerprint(pki.client.certificate)

    # The new certificate arrives first; its key follows three runs later.
    _write_atomically(certificate, pki.client_rsa.certificate_pem())
    service.wait_for_log("changed on disk but cannot be loaded")
    window = [service.next_record() for _ in range(3)]
    errors_in_window = service.stderr.count("changed on disk but cannot be loaded")
    _write_atomically(key, pki.client_rsa.key_der())
    after = service.wait_for_record(
        lambda r: (r["identity"] or {}).get("subject") == "CN=client-rsa,O=mtls-runner"
    )
    service.stop()

    assert [r["ok"] for r in window] == [True, True, True]
    assert [r["identity"]["sha256"] for r in window] == [old_sha256] * 3
    assert {json.loads(r["body"])["subject"] for r in window} == {
        "CN=client-ec,O=mtls-runner"
    }
    assert errors_in_window >= 3
    error_line = next(
        line for line in service.stderr_lines if "cannot be loaded" in line
    )
    assert error_line.startswith("mtls-runner: ERROR: job 'probe': identity ")
    assert f"cannot be loaded from {certificate}, {key}:" in error_line
    assert "the private key does not match any certificate" in error_line
    assert (
        f"the previous certificate CN=client-ec,O=mtls-runner (SHA-256 {old_sha256}) "
        "is still presented, and the load is retried before the next run"
    ) in error_line
    assert after["ok"] is True
    assert json.loads(after["body"])["subject"] == "CN=client-rsa,O=mtls-runner"


def test_mismatched_pair_at_start_fails_job(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    write_job: Callable[..., Path],
    start_service: Callable[..., ServiceProcess],
) -> None:
    # Control: without a last good identity the job fails, and the server sees
    # no connection from it.
    server = mtls_server()
    certificate = tmp_path / "client-cert.pem"
    key = tmp_path / "client-key.der"
    _write_atomically(certificate, pki.client_rsa.certificate_pem())
    _write_atomically(key, pki.client.key_der())
    text = job_text(pki, server.url("/whoami"), identity_file=certificate, key_file=key)
    service = start_service(write_job(text))
    record = service.next_record()
    service.stop()
    assert record["ok"] is False
    assert record["error"]["kind"] == "identity_invalid"
    assert server.stats.connections == 0


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _seconds(iso_time: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()
