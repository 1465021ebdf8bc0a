"""The demo builds its PKI, runs its jobs against a local server and cleans up."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from runner.demo.run import demo_job_text
from tests.conftest import CliResult

REPOSITORY = Path(__file__).resolve().parents[2]


def test_job_file_copy_matches_the_packaged_one() -> None:
    assert (REPOSITORY / "jobs" / "demo.yaml").read_text() == demo_job_text()


def test_demo_passes_and_explains_the_refusal(
    run_cli: Callable[..., CliResult],
) -> None:
    result = run_cli("demo", "--duration", "1")
    assert result.code == 0, result.stdout + result.stderr
    assert "failed as expected: client_certificate_required" in result.stdout
    assert "hint: add 'identity: NAME' to the job" in result.stdout


def test_demo_removes_its_temporary_folder(run_cli: Callable[..., CliResult]) -> None:
    before = set(Path(tempfile.gettempdir()).glob("mtls-runner-demo-*"))
    run_cli("demo", "--duration", "1")
    assert set(Path(tempfile.gettempdir()).glob("mtls-runner-demo-*")) == before


def test_python_dash_m_runs_the_program() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "runner", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0
    assert completed.stdout.startswith("mtls-runner ")
