"""An empty password for an encrypted key fails that identity's job only.

cryptography reads an empty password as none at all and raises TypeError; run,
doctor and validate must turn that into identity_invalid for the one job.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki

PASSWORD = b"key password"


@pytest.fixture
def job_file(
    pki: Pki,
    mtls_server: Callable[..., MtlsServer],
    write_job: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """Write two jobs: 'locked' with an empty password variable, 'healthy'."""
    monkeypatch.setenv("EMPTY_KEY_PASSWORD", "")
    key = pki.write("empty-password-key.pem", pki.client.key_pem(PASSWORD))
    url = mtls_server().url("/health")
    return write_job(
        f"""
        version: 1
        identities:
          locked:
            certificate: {pki.path("client-cert.pem")}
            key: {key}
            password: {{env: EMPTY_KEY_PASSWORD}}
          plain:
            certificate: {pki.path("client-cert.pem")}
            key: {pki.path("client-key.pem")}
        truststores:
          test-ca: {{certificates: [{pki.path("ca.pem")}]}}
        jobs:
          locked:
            identity: locked
            truststore: test-ca
            endpoints: [{{url: "{url}"}}]
          healthy:
            identity: plain
            truststore: test-ca
            endpoints: [{{url: "{url}"}}]
        """
    )


def test_run_fails_only_that_job(
    run_cli: Callable[..., CliResult], job_file: Path
) -> None:
    result = run_cli("run", "--once", "--json", str(job_file))
    by_job = {record["job"]: record for record in result.records}
    assert by_job["healthy"]["ok"] is True
    assert by_job["locked"]["error"]["kind"] == "identity_invalid"
    assert "password is empty" in by_job["locked"]["error"]["message"]
    assert "Traceback" not in result.stderr
    assert result.code == 1


def test_doctor_reports_empty_password(
    run_cli: Callable[..., CliResult], job_file: Path
) -> None:
    result = run_cli("doctor", str(job_file))
    assert "identity_invalid" in result.stdout
    assert "password is empty" in result.stdout
    assert "doctor: 1 of 2 endpoints passed" in result.stdout


def test_validate_reports_empty_password(
    run_cli: Callable[..., CliResult], job_file: Path
) -> None:
    result = run_cli("validate", str(job_file))
    assert result.code == 1
    assert "the configured password is empty" in result.stdout
    assert "TypeError" not in result.stdout
