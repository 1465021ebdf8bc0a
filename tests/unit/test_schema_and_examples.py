"""The committed JSON Schema, the example job files and the pre-commit hook."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from runner.config.models import json_schema
from runner.config.yamlsource import parse_yaml
from tests.conftest import CliResult

RunCli = Callable[..., CliResult]
ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "jobfile.schema.json"
JOB_FILES = sorted((ROOT / "jobs").glob("*.yaml"))
SCHEMA_COMMENT = "# yaml-language-server: $schema=../schemas/jobfile.schema.json"


def job_data(path: Path) -> Any:
    return parse_yaml(path.read_bytes(), path.name).data


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_schema_file_in_sync() -> None:
    expected = json.dumps(json_schema(), indent=2) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        "schemas/jobfile.schema.json is stale; regenerate it with 'make schema'"
    )


def test_schema_command_prints_file(run_cli: RunCli) -> None:
    result = run_cli("schema")
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(json_schema())


def test_examples_present() -> None:
    names = {path.name for path in JOB_FILES}
    assert {"demo.yaml", "keystores.yaml", "partner-a.yaml", "partner-b.yaml"} <= names


@pytest.mark.parametrize("path", JOB_FILES, ids=lambda p: p.name)
def test_example_has_schema_comment(path: Path) -> None:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == SCHEMA_COMMENT


@pytest.mark.parametrize("path", JOB_FILES, ids=lambda p: p.name)
def test_schema_accepts_example(path: Path, validator: Draft202012Validator) -> None:
    errors = [e.message for e in validator.iter_errors(job_data(path))]
    assert errors == []


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"colour": "red"}, "Additional properties are not allowed"),
        ({"url": "http://a.example/"}, "does not match"),
        ({"method": 5}, "is not of type 'string'"),
    ],
)
def test_schema_rejects_bad_endpoint(
    validator: Draft202012Validator, change: dict[str, Any], phrase: str
) -> None:
    data = job_data(ROOT / "jobs" / "partner-a.yaml")
    data["jobs"]["partner-a-orders"]["endpoints"][0].update(change)
    errors = [e.message for e in validator.iter_errors(data)]
    assert len(errors) == 1
    assert phrase in errors[0]


def test_schema_rejects_bad_name(validator: Draft202012Validator) -> None:
    data = {"version": 1, "jobs": {"bad name": {"endpoints": []}}}
    assert not validator.is_valid(data)


def test_examples_validate(run_cli: RunCli) -> None:
    result = run_cli("validate", "--schema-only", str(ROOT / "jobs"))
    assert result.code == 0
    assert result.stdout == f"0 errors, 0 warnings in {len(JOB_FILES)} files\n"


def test_demo_example_matches_packaged() -> None:
    packaged = ROOT / "runner" / "demo" / "demo.yaml"
    assert (ROOT / "jobs" / "demo.yaml").read_bytes() == packaged.read_bytes()


def test_pre_commit_hook_runs(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    (hook,) = hooks
    program, *options = shlex.split(hook["entry"])
    monkeypatch.chdir(ROOT)
    result = run_cli(*options, *hook["args"])
    assert program == "mtls-runner"
    assert "--schema-only" in options
    assert hook["pass_filenames"] is False
    assert result.code == 0
