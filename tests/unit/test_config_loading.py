"""Job file loading: located errors, strict models, one namespace across files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config.loader import load_config
from runner.config.yamlsource import MAX_NODES, parse_yaml
from runner.errors import ConfigError, Finding, UsageError

VALID = """\
version: 1
identities:
  partner:
    certificate: cert.pem
    key: key.der
truststores:
  internal:
    certificates: [ca.pem]
jobs:
  orders:
    identity: partner
    truststore: internal
    endpoints:
      - url: https://api.example.test/health
"""


def findings_of(path: Path | list[Path]) -> list[Finding]:
    paths = path if isinstance(path, list) else [path]
    with pytest.raises(ConfigError) as caught:
        load_config([str(p) for p in paths])
    return caught.value.findings


def only_finding(path: Path) -> Finding:
    findings = findings_of(path)
    assert len(findings) == 1, findings
    return findings[0]


def test_valid_file_loads(write_job: Callable[..., Path]) -> None:
    config = load_config([str(write_job(VALID))])
    assert list(config.jobs) == ["orders"]


def test_paths_are_relative_to_the_job_file(write_job: Callable[..., Path]) -> None:
    path = write_job(VALID, "sub/jobs.yaml")
    config = load_config([str(path)])
    assert config.identities["partner"].path("cert.pem") == path.parent / "cert.pem"


def test_folder_is_searched_recursively(write_job: Callable[..., Path]) -> None:
    first = write_job(VALID, "a/one.yaml")
    write_job(VALID.replace("orders", "billing").split("identities:")[0]
              + "jobs:\n  billing:\n    identity: partner\n    endpoints:\n"
              "      - url: https://b.example.test/\n", "a/b/two.yml")  # fmt: skip
    config = load_config([str(first.parent)])
    assert sorted(config.jobs) == ["billing", "orders"]


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        load_config([str(tmp_path / "absent.yaml")])


def test_unknown_key_suggests_the_right_one(write_job: Callable[..., Path]) -> None:
    finding = only_finding(
        write_job(VALID.replace("    key: key.der", "    kee: key.der"))
    )
    assert (finding.line, finding.column) == (5, 5)
    assert "did you mean 'key'?" in finding.message


def test_missing_key_is_located_at_its_mapping(write_job: Callable[..., Path]) -> None:
    text = VALID.replace(
        "      - url: https://api.example.test/health", "      - method: GET"
    )
    finding = only_finding(write_job(text))
    assert finding.line == 14
    assert "missing required key 'url'" in finding.message


def test_plain_http_is_rejected(write_job: Callable[..., Path]) -> None:
    finding = only_finding(write_job(VALID.replace("https://api", "http://api")))
    assert (finding.line, finding.column) == (14, 14)
    assert "does not use https" in finding.message


@pytest.mark.parametrize(
    ("line", "value", "phrase"),
    [
        ("    timeout: 10x", "timeout", "invalid duration"),
        ("    retries: -1", "retries", "out of range"),
        ("    schedule: every 0 minutes", "schedule", "more than zero"),
        ("    schedule: every day at 25:00", "schedule", "no such time"),
        (
            "    schedule: every day at 02:30 Mars/Olympus",
            "schedule",
            "unknown time zone",
        ),
        ("    schedule: '61 * * * *'", "schedule", "invalid cron expression"),
        ("    max_response_bytes: 10 parsecs", "max_response_bytes", "invalid size"),
        ("    http_version: 3", "http_version", "not allowed"),
        ("    resolve: {api.example.test: not-an-ip}", "resolve", "not an IP address"),
    ],
)
def test_job_settings_are_checked(
    write_job: Callable[..., Path], line: str, value: str, phrase: str
) -> None:
    text = VALID.replace(
        "    truststore: internal\n", f"    truststore: internal\n{line}\n"
    )
    finding = only_finding(write_job(text))
    assert finding.line == 13
    assert phrase in finding.message


@pytest.mark.parametrize(
    ("expect", "phrase"),
    [
        ("{status: 7xx}", "invalid status pattern"),
        ("{status: 99}", "out of range"),
        ("{status: []}", "at least one item"),
        ("{fails_with: nonsense}", "not allowed"),
        ("{body_contains: 200}", "quote it"),
    ],
)
def test_expectations_are_checked(
    write_job: Callable[..., Path], expect: str, phrase: str
) -> None:
    text = VALID + f"        expect: {expect}\n"
    finding = only_finding(write_job(text))
    assert finding.line == 15
    assert phrase in finding.message


def test_body_and_json_together_are_rejected(write_job: Callable[..., Path]) -> None:
    text = VALID + "        body: text\n        json: {a: 1}\n"
    finding = only_finding(write_job(text))
    assert "'body' or 'json', not both" in finding.message


def test_unknown_identity_reference(write_job: Callable[..., Path]) -> None:
    finding = only_finding(
        write_job(VALID.replace("identity: partner", "identity: partnr"))
    )
    assert (finding.line, finding.column) == (11, 15)
    assert "did you mean 'partner'?" in finding.message


def test_names_are_unique_across_files(write_job: Callable[..., Path]) -> None:
    first = write_job(VALID, "a.yaml")
    second = write_job(VALID, "b.yaml")
    findings = findings_of([first, second])
    messages = [f.message for f in findings if f.file == str(second)]
    assert any("duplicate identity name 'partner'" in m for m in messages)
    assert any(f"also defined at {first}:3" in m for m in messages)


def test_identities_from_another_file_can_be_used(
    write_job: Callable[..., Path],
) -> None:
    keystores = write_job(VALID.split("jobs:")[0], "keystores.yaml")
    jobs = write_job("version: 1\n" + "jobs:" + VALID.split("jobs:")[1], "jobs.yaml")
    config = load_config([str(keystores), str(jobs)])
    assert config.jobs["orders"].model.identity in config.identities


def test_every_error_of_every_file_is_reported(write_job: Callable[..., Path]) -> None:
    first = write_job(VALID.replace("key: key.der", "kee: key.der"), "a.yaml")
    second = write_job("version: 2\n", "b.yaml")
    findings = findings_of([first, second])
    assert {f.file for f in findings} == {str(first), str(second)}


def test_version_is_required(write_job: Callable[..., Path]) -> None:
    finding = only_finding(write_job(VALID.replace("version: 1\n", "")))
    assert "missing required key 'version'" in finding.message


def test_invalid_job_name(write_job: Callable[..., Path]) -> None:
    finding = only_finding(write_job(VALID.replace("  orders:", "  'bad name':")))
    assert "invalid name 'bad name'" in finding.message


def test_secret_forms(write_job: Callable[..., Path]) -> None:
    text = VALID.replace(
        "    key: key.der", "    key: key.der\n    password: {vault: x}"
    )
    finding = only_finding(write_job(text))
    assert "unknown key 'vault'" in finding.message


def test_unquoted_numbers_for_http_version_are_accepted(
    write_job: Callable[..., Path],
) -> None:
    text = VALID.replace(
        "    truststore: internal\n", "    truststore: internal\n    http_version: 2\n"
    )
    config = load_config([str(write_job(text))])
    assert config.jobs["orders"].model.http_version == "2"


# --- YAML layer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("yes", "read as true by YAML 1.1"),
        ("off", "read as false by YAML 1.1"),
        ("012", "leading zero"),
        ("10:30", "base-60"),
        ("1_000", "read as a number by some YAML parsers"),
    ],
)
def test_yaml11_traps_are_errors(value: str, phrase: str) -> None:
    document = parse_yaml(f"version: 1\nname: {value}\n".encode(), "f.yaml")
    assert len(document.findings) == 1
    assert phrase in document.findings[0].message
    assert (document.findings[0].line, document.findings[0].column) == (2, 7)


@pytest.mark.parametrize("value", ['"yes"', "'012'", "true", "12", "1.5", "x10:30"])
def test_quoted_and_plain_values_are_not_traps(value: str) -> None:
    document = parse_yaml(f"version: 1\nname: {value}\n".encode(), "f.yaml")
    assert document.findings == []


def test_duplicate_key_is_an_error() -> None:
    document = parse_yaml(b"version: 1\njobs: {}\njobs: {}\n", "f.yaml")
    assert document.findings[0].line == 3
    assert (
        "duplicate key 'jobs' (first defined on line 2)" in document.findings[0].message
    )


def test_tab_indentation_is_located() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(b"version: 1\njobs:\n\tx: 1\n", "f.yaml")
    finding = caught.value.findings[0]
    assert finding.line == 3
    assert "tab character" in finding.message


def test_syntax_error_is_located() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(b"version: 1\njobs: [a, b\n", "f.yaml")
    assert caught.value.findings[0].line == 3


def test_unquoted_cron_expression_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match="must be quoted"):
        parse_yaml(b"version: 1\nschedule: */5 * * * *\n", "f.yaml")


def test_empty_file_is_explained() -> None:
    with pytest.raises(ConfigError, match="file is empty"):
        parse_yaml(b"# only a comment\n", "f.yaml")


def test_top_level_list_is_explained() -> None:
    with pytest.raises(ConfigError, match="top level is a list"):
        parse_yaml(b"- a\n- b\n", "f.yaml")


def test_two_documents_are_rejected() -> None:
    with pytest.raises(ConfigError, match="more than one YAML document"):
        parse_yaml(b"version: 1\n---\nversion: 1\n", "f.yaml")


def test_alias_bomb_is_rejected() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    with pytest.raises(ConfigError, match=f"more than {MAX_NODES} nodes"):
        parse_yaml("\n".join(lines).encode(), "bomb.yaml")


def test_merge_keys_apply_shared_settings() -> None:
    text = b"base: &base {a: 1, b: 2}\nitem:\n  <<: *base\n  b: 3\n"
    document = parse_yaml(text, "f.yaml")
    assert document.data["item"] == {"a": 1, "b": 3}


def test_byte_order_mark_and_crlf_are_accepted() -> None:
    document = parse_yaml(b"\xef\xbb\xbfversion: 1\r\njobs: {}\r\n", "f.yaml")
    assert document.data == {"version": 1, "jobs": {}}


def test_non_utf8_file_is_explained() -> None:
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_yaml(b"version: 1\nname: caf\xe9\n", "f.yaml")
