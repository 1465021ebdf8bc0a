"""validate --schema-only on bad job files: every finding located, with its message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult

RunCli = Callable[..., CliResult]
WriteJob = Callable[..., Path]

GOOD = """\
version: 1
identities:
  partner:
    certificate: client.pem
    key: client.key
truststores:
  internal:
    certificates: [ca.pem]
jobs:
  orders:
    identity: partner
    truststore: internal
    schedule: every 5 minutes
    timeout: 10s
    endpoints:
      - url: https://api.example/health
        expect:
          status: 200
"""


def bad(old: str, new: str) -> str:
    """Return GOOD with one line replaced; fail loudly if the line is not there."""
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


# (file text, line, column, phrase): each file has exactly one error.
CASES: list[tuple[str, int, int, str]] = [
    (bad("    timeout: 10s", "    timout: 10s"), 14, 5, "did you mean 'timeout'?"),
    (bad("jobs:", "job:"), 9, 1, "unknown key 'job'; did you mean 'jobs'?"),
    (bad("        expect:", "        expects:"), 17, 9, "did you mean 'expect'?"),
    (bad("    key: client.key", "    kye: client.key"), 5, 5, "did you mean 'key'?"),
    (bad("url: https://api", "url: http://api"), 16, 14, "does not use https"),
    (bad("url: https://api.example/health", "url: https://"), 16, 14, "has no host"),
    (bad("version: 1", "versions: 1"), 1, 1, "did you mean 'version'?"),
    (bad("version: 1", "version: 2"), 1, 10, "unsupported version: found number 2"),
    (bad("identity: partner", "identity: partnr"), 11, 15, "did you mean 'partner'?"),
    (bad("truststore: internal", "truststore: x"), 12, 17, "defined: internal"),
    (bad("timeout: 10s", "timeout: 10 sec"), 14, 14, "invalid duration '10 sec'"),
    (bad("timeout: 10s", "timeout: 0s"), 14, 14, "out of range"),
    (bad("timeout: 10s", "jitter: -5s"), 14, 13, "invalid duration '-5s'"),
    (bad("every 5 minutes", "every 0 minutes"), 13, 15, "must be more than zero"),
    (bad("every 5 minutes", "every -5 minutes"), 13, 15, "must be more than zero"),
    (bad("every 5 minutes", "every 5 fortnights"), 13, 15, "unknown unit"),
    (bad("every 5 minutes", "'61 * * * *'"), 13, 15, "the minute field '61'"),
    (bad("every 5 minutes", "'* * * *'"), 13, 15, "has 5 fields"),
    (bad("every 5 minutes", "every day at 25:00"), 13, 15, "no such time of day"),
    (bad("5 minutes", "day at 02:30 Mars/Base"), 13, 15, "unknown time zone"),
    (bad("status: 200", "status: 2xy"), 18, 19, "invalid status pattern '2xy'"),
    (bad("status: 200", "status: 999"), 18, 19, "out of range"),
    (bad("status: 200", "status: [200, 7]"), 18, 25, "out of range"),
    (bad("status: 200", "status: []"), 18, 11, "needs at least one item"),
    (bad("status: 200", "fails_with: tls_broken"), 18, 23, "is not allowed"),
    (bad("status: 200", "body_contains: yes"), 18, 26, 'write "yes" for a string'),
    (bad("status: 200", "body_contains: 10:30"), 18, 26, "base-60"),
    (bad("timeout: 10s", "retries: 03"), 14, 14, "leading zero"),
    (bad("timeout: 10s", "retries: '3'"), 14, 14, "write the number without quotes"),
    (bad("timeout: 10s", "http_version: 3"), 14, 19, "expected '1.1' or '2'"),
    (bad("timeout: 10s", "resolve: {a.example: b}"), 14, 26, "is not an IP address"),
    (bad("timeout: 10s", "max_response_bytes: 1 parsec"), 14, 25, "invalid size"),
    (bad("timeout: 10s", "headers: {X: ${A}"), 14, 19, "invalid YAML"),
    (bad("timeout: 10s", "headers: {X: '${A'}"), 14, 18, "unclosed variable"),
    (bad("timeout: 10s", "headers: {X: '${1A}'}"), 14, 18, "invalid variable name"),
    (bad("timeout: 10s", "headers: [X]"), 14, 5, "expected a mapping"),
    (bad("  - url", "  - method: GE T\n        url"), 16, 17, "invalid HTTP method"),
    (
        bad("        expect:", "        body: a\n        json: {}\n        expect:"),
        16,
        9,
        "'body' or 'json', not both",
    ),
    (bad("      - url: https://api.example/health\n", ""), 15, 5, "expected a list"),
    (bad("  orders:", "  Orders Job:"), 10, 3, "invalid name 'Orders Job' in jobs"),
    (bad("    key: client.key", "    pkcs12: x.p12"), 3, 3, "either pkcs12 or"),
    (
        bad("    key: client.key", "    password: {env: A, file: b}"),
        5,
        5,
        "either {env: NAME} or {file: PATH}",
    ),
    (bad("    key: client.key", "    password: 5"), 5, 15, "expected {env: NAME}"),
    (
        bad("    certificates: [ca.pem]", "    system: false"),
        7,
        3,
        "needs 'certificates', 'pkcs12' or 'system: true'",
    ),
    (
        bad(
            "    certificates: [ca.pem]", "    certificates: [ca.pem]\n    password: x"
        ),
        7,
        3,
        "'password' applies to 'pkcs12' only",
    ),
    (bad("    endpoints:", "    endpointz:"), 15, 5, "did you mean 'endpoints'?"),
    (GOOD.split("    endpoints:")[0], 10, 3, "missing required key 'endpoints' in"),
    (
        bad("    timeout: 10s", "    timeout: 10s\n    timeout: 20s"),
        15,
        5,
        "duplicate key 'timeout' (first defined on line 14)",
    ),
    (bad("    timeout: 10s", "\ttimeout: 10s"), 14, 1, "tab character in indentation"),
    (bad("every 5 minutes", "*/5 * * * *"), 13, 16, "must be quoted"),
    (bad("jobs:", "---\njobs:"), 9, 1, "more than one YAML document"),
    (bad("api.example/health", "api.example:99999/health"), 16, 14, "port 99999, w"),
    (bad("api.example/health", "api.example:0/health"), 16, 14, "ports are 1 to"),
    (bad("api.example/health", "api.example:-1/health"), 16, 14, "not a number"),
    (bad("api.example/health", "api.example/he alth"), 16, 14, "write it as %20"),
    (
        bad("url: https://api.example/health", 'url: "https://api.example/\\e"'),
        16,
        14,
        "control character U+001B",
    ),
    (bad("api.example/health", "bücher.example/"), 16, 14, "'xn--bcher-kva.example'"),
    (bad("api.example/health", "api.example:${P}/a\tb"), 16, 14, "U+0009"),
    (bad("timeout: 10s", "headers: {X A: b}"), 14, 15, "invalid header name 'X A'"),
    (bad("timeout: 10s", "headers: {'X:': b}"), 14, 15, "invalid header name 'X:'"),
    (bad("timeout: 10s", 'headers: {X: "a\\r\\nY: b"}'), 14, 18, "line break"),
    (bad("timeout: 10s", 'headers: {X: "a\\x00"}'), 14, 18, "U+0000"),
    (bad("timeout: 10s", "headers: {X: ł}"), 14, 18, "outside ISO-8859-1"),
    (bad("timeout: 10s", "headers: {X: a, x: b}"), 14, 21, "header 'x' repeats 'X'"),
    (
        bad("timeout: 10s", "max_response_bytes: 9223372036854775808"),
        14,
        25,
        "larger than the maximum",
    ),
    (bad("timeout: 10s", "timeout: 8d"), 14, 14, "longer than the maximum of 7 days"),
    (bad("timeout: 10s", "jitter: true"), 14, 13, "expected a duration, found true;"),
    (bad("timeout: 10s", f"max_response_bytes: {'9' * 400}B"), 14, 25, "too many"),
    (bad("version: 1", "version: true"), 1, 10, "unsupported version: found true"),
    (bad("version: 1", "version: 1.0"), 1, 10, "unsupported version: found 1.0"),
    (bad("version: 1", "version: !!bool true"), 1, 10, "found true"),
    (bad("version: 1", "version: [1]"), 1, 1, "unsupported version: found a list"),
    (bad("status: 200", "body_contains: ''"), 18, 26, "the value is empty"),
    (
        bad("        expect:", "        json: [1, .nan]\n        expect:"),
        17,
        9,
        "contains nan, which JSON cannot represent",
    ),
    (
        bad("        expect:", "        json: {a: -.inf}\n        expect:"),
        17,
        9,
        "contains -inf",
    ),
    (
        bad("        expect:", "        json:\n        expect:"),
        17,
        14,
        "'json' is empty",
    ),
    (
        bad("status: 200", "status: 200\n          fails_with: timeout"),
        18,
        11,
        "'status' has no effect next to 'fails_with: timeout'",
    ),
    (
        bad("status: 200", "body_contains: x\n          fails_with: timeout"),
        18,
        11,
        "'body_contains' has no effect",
    ),
    (
        bad(
            "      - url",
            "      - name: a\n        url: https://b.example/\n"
            "      - name: a\n        url",
        ),
        18,
        9,
        "endpoint name 'a' is also used",
    ),
    (
        bad(
            "timeout: 10s", "resolve: {api.example: 127.0.0.1, API.example: 127.0.0.1}"
        ),
        14,
        39,
        "resolve entry 'API.example' repeats 'api.example'",
    ),
    ("", 1, 1, "file is empty"),
    ("- version: 1\n", 1, 1, "the top level is a list"),
    ("version: 1\njobs:\n  x:\n    endpoints: *e\n", 4, 16, "undefined alias *e"),
]


def findings(result: CliResult) -> dict[str, list[dict[str, Any]]]:
    document: dict[str, list[dict[str, Any]]] = json.loads(result.stdout)
    return document


@pytest.mark.parametrize(("text", "line", "column", "phrase"), CASES)
def test_bad_file_located(
    run_cli: RunCli,
    write_job: WriteJob,
    text: str,
    line: int,
    column: int,
    phrase: str,
) -> None:
    path = write_job(text)
    result = run_cli("validate", "--schema-only", "--format", "json", str(path))
    errors = findings(result)["errors"]
    assert result.code == 1
    assert len(errors) == 1, errors
    assert (errors[0]["line"], errors[0]["column"]) == (line, column), errors
    assert phrase in errors[0]["message"]


def test_good_file_passes(run_cli: RunCli, write_job: WriteJob) -> None:
    result = run_cli("validate", "--schema-only", str(write_job(GOOD)))
    assert result.code == 0
    assert result.stdout == "0 errors, 0 warnings in 1 file\n"


def test_all_findings_at_once(run_cli: RunCli, write_job: WriteJob) -> None:
    text = bad("timeout: 10s", "timeout: 10 sec\n    retries: no")
    text = text.replace("https://api", "http://api").replace("version: 1", "versoin: 1")
    result = run_cli("validate", "--schema-only", str(write_job(text)))
    lines = result.stdout.splitlines()
    assert [line.split(":")[1] for line in lines[:-1]] == ["1", "14", "15", "17"]
    assert lines[-1] == "4 errors, 0 warnings in 1 file"


def test_text_line_format(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(bad("timeout: 10s", "timeout: soon"))
    result = run_cli("validate", "--schema-only", str(path))
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{path}:14:14: error: jobs.orders.timeout: invalid")


def test_findings_sorted_by_file_and_line(run_cli: RunCli, write_job: WriteJob) -> None:
    second = write_job(bad("timeout: 10s", "timeout: x"), "b.yaml")
    first = write_job("v: 1\njobs: {}\n")
    result = run_cli("validate", "--schema-only", str(second), str(first))
    files = [line.split(":")[0] for line in result.stdout.splitlines()[:-1]]
    assert files == sorted(files)
    assert len(files) == 3


def test_duplicate_job_across_files(run_cli: RunCli, write_job: WriteJob) -> None:
    first = write_job(GOOD, "a.yaml")
    second = write_job("version: 1\njobs:\n  orders:\n    endpoints: []\n", "b.yaml")
    result = run_cli(
        "validate", "--schema-only", "--format", "json", str(first), str(second)
    )
    errors = findings(result)["errors"]
    duplicate = [e for e in errors if "duplicate job name" in e["message"]]
    assert len(duplicate) == 1
    assert (duplicate[0]["file"], duplicate[0]["line"]) == (str(second), 3)
    assert f"also defined at {first}:10" in duplicate[0]["message"]


def test_keystores_in_another_file(run_cli: RunCli, write_job: WriteJob) -> None:
    keystores, _, jobs = GOOD.partition("jobs:\n")
    first = write_job(keystores, "keystores.yaml")
    second = write_job("version: 1\njobs:\n" + jobs, "jobs.yaml")
    result = run_cli("validate", "--schema-only", str(first), str(second))
    assert result.code == 0


def test_keystores_left_out_hint(run_cli: RunCli, write_job: WriteJob) -> None:
    _, _, jobs = GOOD.partition("jobs:\n")
    path = write_job("version: 1\njobs:\n" + jobs, "jobs.yaml")
    result = run_cli("validate", "--schema-only", str(path))
    assert result.code == 1
    assert "pass the file that defines it too" in result.stdout


def test_swapped_references_named(run_cli: RunCli, write_job: WriteJob) -> None:
    swapped = bad("    identity: partner", "    identity: internal")
    result = run_cli("validate", "--schema-only", str(write_job(swapped)))
    assert "'internal' is a truststore" in result.stdout


def test_indentation_error_hint(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(bad("    timeout: 10s", "   timeout: 10s"))
    result = run_cli("validate", "--schema-only", str(path))
    assert "check that this line is indented like the keys" in result.stdout


def test_reference_into_broken_file(run_cli: RunCli, write_job: WriteJob) -> None:
    keystores, _, jobs = GOOD.partition("jobs:\n")
    broken = keystores.replace("key: client.key", "key: client.key\n    colour: red")
    first = write_job(broken, "keystores.yaml")
    second = write_job("version: 1\njobs:\n" + jobs, "jobs.yaml")
    result = run_cli(
        "validate", "--schema-only", "--format", "json", str(first), str(second)
    )
    errors = findings(result)["errors"]
    assert [e["file"] for e in errors] == [str(first)]


def test_literal_password_warns(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(bad("    key: client.key", "    key: k\n    password: hunter2"))
    result = run_cli("validate", "--schema-only", "--format", "json", str(path))
    warnings = findings(result)["warnings"]
    assert result.code == 0
    assert [(w["line"], w["column"]) for w in warnings] == [(6, 15)]
    assert "password written in the file" in warnings[0]["message"]
    assert "hunter2" not in result.stdout


def test_folder_searched_recursively(run_cli: RunCli, write_job: WriteJob) -> None:
    write_job(GOOD, "team/a/jobs.yaml")
    write_job("version: 1\njobs:\n  more:\n    endpoints: []\n", "team/b/more.yml")
    path = write_job("not a job file", "team/notes.txt")
    result = run_cli("validate", "--schema-only", str(path.parent))
    assert result.code == 1
    assert result.stdout.splitlines()[-1] == "1 error, 0 warnings in 2 files"


def test_missing_path_exits_2(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "absent.yaml"))
    assert result.code == 2
    assert "no such file or folder" in result.stderr


def test_folder_without_job_files_exits_2(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path))
    assert result.code == 2
    assert "holds no *.yaml" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],
        ["validate", "--format", "xml", "x.yaml"],
        ["validate", "--expiry-warning", "-1", "x.yaml"],
        ["validate", "--expiry-warning", "soon", "x.yaml"],
        ["validate", "--expiry-warning", "36501", "x.yaml"],
        ["validate", "--expiry-warning", "100000000", "x.yaml"],
    ],
)
def test_usage_errors_exit_2(run_cli: RunCli, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli(*argv)
    assert caught.value.code == 2


def test_run_reports_same_errors(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(bad("timeout: 10s", "timeout: 10 sec"))
    validated = run_cli("validate", "--schema-only", str(path))
    ran = run_cli("run", "--once", str(path))
    assert ran.code == 2
    assert validated.stdout.splitlines()[0] in ran.stderr


def test_expiry_warning_range_message(
    run_cli: RunCli, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run_cli("validate", "--expiry-warning", "100000000", "x.yaml")
    assert "expected at most 36500 days" in capsys.readouterr().err


def warnings_of(run_cli: RunCli, path: Path) -> list[dict[str, Any]]:
    result = run_cli("validate", "--schema-only", "--format", "json", str(path))
    assert result.code == 0, result.stdout
    return findings(result)["warnings"]


def test_unused_resolve_entry_warns(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(bad("timeout: 10s", "resolve: {other.example: 127.0.0.1}"))
    warnings = warnings_of(run_cli, path)
    assert [(w["line"], w["column"]) for w in warnings] == [(14, 15)]
    assert "'other.example' matches the host of no endpoint" in warnings[0]["message"]


def test_resolve_matches_any_case(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(bad("timeout: 10s", "resolve: {API.Example: 127.0.0.1}"))
    assert warnings_of(run_cli, path) == []


def test_resolve_with_variable_host_passes(
    run_cli: RunCli, write_job: WriteJob
) -> None:
    text = bad("timeout: 10s", "resolve: {other.example: 127.0.0.1}")
    path = write_job(text.replace("https://api.example/", "https://${HOST}/"))
    assert warnings_of(run_cli, path) == []


def test_same_default_names_warn(run_cli: RunCli, write_job: WriteJob) -> None:
    text = bad("      - url", "      - url: https://b.example/health\n      - url")
    warnings = warnings_of(run_cli, write_job(text))
    assert [(w["line"], w["column"]) for w in warnings] == [(17, 9)]
    assert "same default name 'GET /health'" in warnings[0]["message"]


@pytest.mark.parametrize(
    "replacement",
    [
        "url: https://api.example/caf\u00e9?q=\u00fc",
        "url: https://api.example:${PORT}/health",
        "url: https://api.example:/health",
        "url: https://[::1]:8443/health",
        "headers: {X-Empty: '', X-Word: caf\u00e9, X-Tab: 'a\tb'}\n"
        "        url: https://api.example/health",
    ],
)
def test_accepted_url_and_headers(
    run_cli: RunCli, write_job: WriteJob, replacement: str
) -> None:
    path = write_job(bad("url: https://api.example/health", replacement))
    result = run_cli("validate", "--schema-only", str(path))
    assert result.stdout == "0 errors, 0 warnings in 1 file\n"


def test_newline_in_key_stays_one_line(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(bad("    timeout: 10s", '    "time\\nout\\x1b": 10s'))
    result = run_cli("validate", "--schema-only", str(path))
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert f"{path}:14:5: error: unknown key 'time\\nout\\x1b'" in lines[0]


def test_hidden_folders_skipped(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job(GOOD, "repo/jobs/a.yaml")
    write_job("name: ci\non: push\n", "repo/.github/workflows/ci.yml")
    write_job("name: x\n", "repo/node_modules/pkg/x.yaml")
    write_job("repos: []\n", "repo/.pre-commit-config.yaml")
    result = run_cli("validate", "--schema-only", str(path.parents[1]))
    assert result.stdout == "0 errors, 0 warnings in 1 file\n"


def test_hidden_file_named_explicitly(run_cli: RunCli, write_job: WriteJob) -> None:
    path = write_job("name: ci\n", ".github/workflows/ci.yml")
    result = run_cli("validate", "--schema-only", str(path))
    assert result.code == 1


def test_dangling_symlink_is_error(
    run_cli: RunCli, write_job: WriteJob, tmp_path: Path
) -> None:
    write_job(GOOD, "jobs/a.yaml")
    link = tmp_path / "jobs" / "gone.yaml"
    link.symlink_to(tmp_path / "missing.yaml")
    result = run_cli("validate", "--schema-only", "--format", "json", str(link.parent))
    errors = findings(result)["errors"]
    assert result.code == 1
    assert [(e["file"], e["line"]) for e in errors] == [(str(link), 1)]
    assert "missing.yaml, which does not exist" in errors[0]["message"]
