"""The YAML layer: located syntax errors, YAML 1.1 traps, aliases and size limits."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from runner.config.yamlsource import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    YamlDocument,
    parse_yaml,
    read_yaml_file,
)
from runner.errors import ConfigError, Finding, UsageError


def parse(text: str | bytes) -> YamlDocument:
    raw = text.encode() if isinstance(text, str) else text
    return parse_yaml(raw, "f.yaml")


def fatal(text: str | bytes) -> Finding:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.findings[-1]


# (YAML text, line, column, phrase): documents that parse but carry a finding.
FINDINGS = [
    ("a: yes\n", 1, 4, 'write "yes" for a string or true for a boolean'),
    ("a: Off\n", 1, 4, "is read as false by YAML 1.1 parsers"),
    ("on: 1\n", 1, 1, "unquoted on is read as true"),
    ("a: 012\n", 1, 4, "octal number 10 and others as 12"),
    ("a: 09\n", 1, 4, "read it as a string and others as the number 9"),
    ("a: 10:30\n", 1, 4, "base-60 number by YAML 1.1 parsers (10:30 becomes 630)"),
    ("a: -1:20\n", 1, 4, "base-60"),
    ("a: 1_000\n", 1, 4, 'write "1_000" for a string'),
    ("a: 0b101\n", 1, 4, "read as a number by some YAML parsers"),
    ("a: 0o17\n", 1, 4, "read as a number by some YAML parsers"),
    ("a: 1.0e3\n", 1, 4, "read as a number by some YAML parsers"),
    ("a: 2024-05-01\n", 1, 4, "read as a date by YAML 1.1 parsers"),
    ("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first defined on line 1)"),
    ("x:\n  k: 1\n  k: 2\n", 3, 3, "duplicate key 'k'"),
    ("a: *nope\n", 1, 4, "undefined alias *nope"),
    ("a: &x [*x]\n", 1, 8, "refers to a node that contains it"),
    ("a: &x {b: *x}\n", 1, 11, "refers to a node that contains it"),
    ("a: !!int abc\n", 1, 4, "cannot read 'abc' as !!int"),
    ("a: !!python/object:os.system x\n", 1, 4, "unsupported YAML tag"),
    ("a: !!timestamp 2020-01-01\n", 1, 4, "unsupported YAML tag"),
    ("a: !!set {x}\n", 1, 4, "unsupported YAML tag"),
    ("? [a]\n: 1\n", 1, 3, "a mapping key must be a plain string"),
    ("~: 1\n", 1, 1, "empty mapping key"),
    ("m:\n  <<: 5\n", 2, 7, "'<<' merges only mappings"),
    ("a: " + "9" * 5000 + "\n", 1, 4, "has too many digits"),
]


@pytest.mark.parametrize(("text", "line", "column", "phrase"), FINDINGS)
def test_yaml_finding(text: str, line: int, column: int, phrase: str) -> None:
    findings = parse(text).findings
    assert len(findings) == 1
    assert (findings[0].line, findings[0].column) == (line, column)
    assert phrase in findings[0].message


# (text, line, column, phrase): documents that cannot be read at all.
FATAL = [
    ("", 1, 1, "file is empty"),
    ("# only a comment\n", 1, 1, "file is empty"),
    ("---\n", 1, 1, "file is empty"),
    ("- a\n- b\n", 1, 1, "the top level is a list"),
    ("just text\n", 1, 1, "the top level is a string"),
    ("version: 1\n---\nversion: 1\n", 2, 1, "more than one YAML document"),
    ("version: 1\njobs:\n\tx: 1\n", 3, 1, "tab character in indentation"),
    ("a:\n  b: 1\n \tc: 2\n", 3, 2, "tab character in indentation"),
    ("a: */5 * * * *\n", 1, 5, "(such as a cron expression) must be quoted"),
    ("a: [1, 2\n", 2, 1, "invalid YAML"),
    ("a: b: c\n", 1, 5, "invalid YAML: mapping values are not allowed"),
    ('a: "\\q"\n', 1, 5, "invalid YAML: found unknown escape character"),
    ("a: 1\nb: \x07\n", 2, 4, "control character U+0007"),
    (b"a: \x00\n", 1, 4, "control character U+0000"),
    (b"a: 1\nb: \xff\xfe\xfd\n", 2, 1, "file is not UTF-8 text"),
]


@pytest.mark.parametrize(("text", "line", "column", "phrase"), FATAL)
def test_yaml_fatal(text: str | bytes, line: int, column: int, phrase: str) -> None:
    finding = fatal(text)
    assert (finding.line, finding.column) == (line, column)
    assert phrase in finding.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: true\nb: FALSE\nc: ~\nd: null\ne:\n", [True, False, None, None, None]),
        ("a: 10\nb: -3\nc: 0x1F\nd: 1.5\ne: .5\n", [10, -3, 31, 1.5, 0.5]),
        (
            'a: "yes"\nb: \'012\'\nc: "10:30"\nd: !!str 09\n',
            ["yes", "012", "10:30", "09"],
        ),
        ("a: y\nb: n\nc: every 5m\nd: 1.0e+3\n", ["y", "n", "every 5m", 1000.0]),
        ("a: 09:00\nb: 0\nc: +7\nd: !!int '12'\n", ["09:00", 0, 7, 12]),
    ],
)
def test_scalars_follow_yaml_1_2(text: str, expected: list[object]) -> None:
    document = parse(text)
    assert document.findings == []
    assert list(document.data.values()) == expected


def test_merge_key_keeps_own_keys() -> None:
    document = parse("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 5\n")
    assert document.data["m"] == {"x": 5, "y": 2}


def test_merge_list_takes_earlier_first() -> None:
    document = parse("a: &a {x: 1}\nb: &b {x: 2, y: 3}\nm:\n  <<: [*a, *b]\n")
    assert document.data["m"] == {"x": 1, "y": 3}


def test_merged_key_located_at_anchor() -> None:
    document = parse("base: &b\n  x: 1\nm:\n  <<: *b\n  z: 2\n")
    assert document.source.locate(("m", "x")) == (2, 6)


def test_own_key_located_in_mapping() -> None:
    document = parse("base: &b\n  x: 1\nm:\n  <<: *b\n  x: 2\n")
    assert document.source.locate(("m", "x")) == (5, 6)


def test_alias_value_located_at_alias() -> None:
    document = parse("a: &x [1, 2]\nb: *x\n")
    assert document.source.locate(("b",)) == (2, 4)


def test_alias_items_located_at_anchor() -> None:
    document = parse("a: &x [1, 2]\nb: *x\n")
    assert document.source.locate(("b", 1)) == (1, 11)


def test_keys_and_values_located() -> None:
    document = parse("jobs:\n  x:\n    timeout: 5s\n")
    assert document.source.locate(("jobs", "x", "timeout")) == (3, 14)
    assert document.source.locate(("jobs", "x"), prefer_key=True) == (2, 3)


def test_duplicate_value_not_located() -> None:
    document = parse("a:\n  b: 1\na:\n  c: 2\n")
    assert ("a", "c") not in document.source.values


def test_crlf_and_bom_accepted() -> None:
    document = parse(b"\xef\xbb\xbfversion: 1\r\nx: 2\r\n")
    assert document.data == {"version": 1, "x": 2}


def test_utf16_accepted() -> None:
    document = parse("version: 1\n".encode("utf-16"))
    assert document.data == {"version": 1}


def billion_laughs(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        items = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{items}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_rejected_quickly() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    finding = fatal(billion_laughs(12))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert f"more than {MAX_NODES} nodes" in finding.message
    assert elapsed < 2.0
    assert peak < 64 * 1024 * 1024


def test_alias_bomb_located_at_alias() -> None:
    finding = fatal(billion_laughs(12))
    assert finding.line == 5


def test_merge_bomb_rejected() -> None:
    lines = ["m0: &m0 {k0: 1, k1: 1, k2: 1, k3: 1, k4: 1, k5: 1, k6: 1, k7: 1}"]
    for level in range(1, 12):
        sources = ", ".join([f"*m{level - 1}"] * 10)
        lines.append(f"m{level}: &m{level} {{<<: [{sources}], own{level}: 1}}")
    finding = fatal("\n".join(lines) + "\n")
    assert "nodes" in finding.message


def test_deep_block_nesting_rejected() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5))
    finding = fatal(text)
    assert f"more than {MAX_DEPTH} levels" in finding.message


def test_deep_flow_nesting_rejected() -> None:
    finding = fatal("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "nesting" in finding.message or "levels" in finding.message


def test_deep_alias_nesting_rejected() -> None:
    nested = "[" * 40 + "]" * 40
    wrapped = "[" * 28 + "*a" + "]" * 28
    text = f"a: &a {nested}\nb: &b {wrapped}\n"
    finding = fatal(text)
    assert f"more than {MAX_DEPTH} levels" in finding.message


def test_many_keys_rejected_quickly() -> None:
    text = "".join(f"k{i}: {i}\n" for i in range(MAX_NODES))
    started = time.perf_counter()
    finding = fatal(text)
    assert "nodes" in finding.message
    assert time.perf_counter() - started < 5.0


def test_large_file_rejected_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: [" + b"[" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(ConfigError) as caught:
        read_yaml_file(path, "big.yaml")
    assert "larger than the limit" in caught.value.findings[0].message


def test_file_at_limit_parsed(tmp_path: Path) -> None:
    path = tmp_path / "limit.yaml"
    head = b"version: 1\nnote: "
    path.write_bytes(head + b"x" * (MAX_FILE_BYTES - len(head) - 1) + b"\n")
    assert read_yaml_file(path, "limit.yaml").data["version"] == 1


def test_unreadable_file_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read file"):
        read_yaml_file(tmp_path / "vanished.yaml", "vanished.yaml")
