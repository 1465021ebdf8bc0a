"""validate output formats: text, JSON and GitHub annotations, parsed back."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import Finding
from runner.report.findings import ValidationReport, render
from tests.conftest import CliResult

RunCli = Callable[..., CliResult]
WriteJob = Callable[..., Path]

# A job file with one error (an unknown key whose name contains '%', a newline and a
# carriage return) and one warning (a literal password).
TRICKY = """\
version: 1
identities:
  partner:
    certificate: client.pem
    key: client.key
    password: hunter2
jobs:
  j:
    "100%\\r\\nsure": 1
    endpoints: [{url: "https://a.example/"}]
"""

_COMMAND = re.compile(r"::(error|warning) (?P<properties>[^:]*)::(?P<message>.*)")


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def parse_github(output: str) -> list[dict[str, str]]:
    """Parse workflow commands: properties split at "," and "=", then unescaped."""
    commands = []
    for line in output.splitlines():
        match = _COMMAND.fullmatch(line)
        if match is None:
            continue
        command = {"severity": match.group(1)}
        for pair in match.group("properties").split(","):
            name, _, value = pair.partition("=")
            command[name] = unescape_property(value)
        command["message"] = unescape_data(match.group("message"))
        commands.append(command)
    return commands


@pytest.fixture
def tricky(write_job: WriteJob) -> Path:
    return write_job(TRICKY, "odd, name: here.yaml")


def test_json_parses_back(run_cli: RunCli, tricky: Path) -> None:
    result = run_cli("validate", "--schema-only", "--format", "json", str(tricky))
    document = json.loads(result.stdout)
    assert result.code == 1
    assert document["errors"] == [
        {
            "file": str(tricky),
            "line": 9,
            "column": 5,
            "message": "unknown key '100%\\r\\nsure' in jobs.j".replace(
                "\\r\\n", "\r\n"
            )
            + "; allowed keys: connect_timeout, endpoints, headers, http_version, "
            "identity, jitter, max_response_bytes, resolve, retries, schedule, "
            "timeout, truststore",
        }
    ]
    assert [(w["line"], w["column"]) for w in document["warnings"]] == [(6, 15)]
    assert document["summary"] == {"files": 1, "errors": 1, "warnings": 1}


def test_json_without_findings(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job("version: 1\n")
    result = run_cli("validate", "--format", "json", str(path))
    assert json.loads(result.stdout) == {
        "errors": [],
        "warnings": [],
        "summary": {"files": 1, "errors": 0, "warnings": 0},
    }


def test_github_parses_back(run_cli: RunCli, tricky: Path) -> None:
    result = run_cli("validate", "--schema-only", "--format", "github", str(tricky))
    commands = parse_github(result.stdout)
    assert result.code == 1
    assert [c["severity"] for c in commands] == ["warning", "error"]
    assert commands[1]["file"] == str(tricky)
    assert (commands[1]["line"], commands[1]["col"]) == ("9", "5")
    assert commands[1]["message"].startswith("unknown key '100%\r\nsure' in jobs.j")


def test_github_one_line_per_finding(run_cli: RunCli, tricky: Path) -> None:
    result = run_cli("validate", "--schema-only", "--format", "github", str(tricky))
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[-1] == "1 error, 1 warning in 1 file"


def test_text_keeps_summary_last(run_cli: RunCli, tricky: Path) -> None:
    result = run_cli("validate", "--schema-only", str(tricky))
    assert result.stdout.endswith("\n1 error, 1 warning in 1 file\n")
    assert f"{tricky}:6:15: warning: identity 'partner'" in result.stdout


def test_warnings_alone_exit_0(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(TRICKY.replace('    "100%\\r\\nsure": 1\n', ""))
    result = run_cli("validate", "--schema-only", "--format", "github", str(path))
    assert result.code == 0
    assert result.stdout.startswith("::warning file=")


def test_github_escapes_properties() -> None:
    finding = Finding("a,b:c%.yaml", 3, 4, "50% done\nnext")
    output = render(ValidationReport.of(1, [finding]), "github")
    assert output.splitlines()[0] == (
        "::error file=a%2Cb%3Ac%25.yaml,line=3,col=4::50%25 done%0Anext"
    )


def test_report_removes_repeats() -> None:
    finding = Finding("a.yaml", 1, 1, "twice")
    report = ValidationReport.of(1, [finding, finding])
    assert report.findings == (finding,)


def test_summary_counts_plurals() -> None:
    findings = [Finding("a.yaml", 1, 1, "x"), Finding("a.yaml", 2, 1, "y", "warning")]
    assert ValidationReport.of(2, findings).summary() == "1 error, 1 warning in 2 files"
