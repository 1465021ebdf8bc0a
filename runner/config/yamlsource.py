"""Load YAML into plain data and remember where every node came from.

PyYAML resolves plain scalars by YAML 1.1, where ``yes`` is true, ``012`` is 10 and
``10:30`` is 630, while YAML 1.2 tools read the same text differently. Job files are
read once by this module and by editors, linters and other tools, so a plain scalar
that the two versions read differently is reported as an error with a hint to quote
it. Everything else follows the YAML 1.2 core schema.

Size limits are applied before and during conversion: a file larger than
MAX_FILE_BYTES is not parsed, and conversion stops after MAX_NODES nodes, which
bounds time and memory for documents that expand aliases many times over.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ConfigError, Finding

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000

PathKey = tuple[str | int, ...]
Position = tuple[int, int]

_PLAIN_TAG = "tag:mtls-runner:plain"
_STR_TAG = "tag:yaml.org,2002:str"
_STANDARD_SCALAR_TAGS = {
    _STR_TAG,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUES = {"true", "True", "TRUE"}
_FALSES = {"false", "False", "FALSE"}
# YAML 1.1 also lists y and n, but PyYAML and most parsers read those as strings.
_YAML11_BOOLS = {
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
}  # fmt: skip
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_INT_OCT = re.compile(r"0o[0-7]+")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?")
_FLOAT_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_FLOAT_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_YAML11_NUMBER = re.compile(
    r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?)"
)


class _Loader(yaml.SafeLoader):
    """Safe loader that leaves plain scalars unresolved for this module to read."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


@dataclass
class SourceMap:
    """Line and column (from 1) of every key and value of one YAML document."""

    file: str
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def locate(self, path: PathKey, *, prefer_key: bool = False) -> Position:
        """Return the position of the deepest node on ``path`` that the file has."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefer_key and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)


@dataclass
class YamlDocument:
    """One parsed job file: its data, node positions and the YAML traps found."""

    file: str
    data: Any
    source: SourceMap
    findings: list[Finding]


def read_yaml_file(path: Path, display: str) -> YamlDocument:
    """Read and parse one job file; raise ConfigError when it cannot be read at all."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _fatal(
                display,
                1,
                1,
                f"file is {size} bytes, more than the limit of {MAX_FILE_BYTES} bytes "
                "for a job file; split it into several files",
            )
        raw = path.read_bytes()
    except OSError as e:
        raise _fatal(display, 1, 1, f"cannot read file: {e.strerror}") from e
    return parse_yaml(raw, display)


def parse_yaml(raw: bytes, display: str) -> YamlDocument:
    """Parse the bytes of one job file into located data."""
    text = _decode(raw, display)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(display, e) from e
    except yaml.YAMLError as e:
        raise _fatal(display, 1, 1, f"invalid YAML: {e}") from e
    finally:
        loader.dispose()
    if node is None:
        raise _fatal(
            display, 1, 1, "file is empty; a job file starts with 'version: 1'"
        )
    converter = _Converter(display)
    data = converter.convert(node, ())
    if not isinstance(data, dict):
        line, column = _position(node)
        raise _fatal(
            display,
            line,
            column,
            f"the top level is a {_type_name(data)}, but a job file must be a mapping "
            "that starts with 'version: 1'",
        )
    return YamlDocument(display, data, converter.source, converter.findings)


def _decode(raw: bytes, display: str) -> str:
    """Decode UTF-8 or UTF-16 text; a byte-order mark and CR line ends are allowed."""
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise _fatal(
            display, line, 1, "file is not UTF-8 text; save it as UTF-8"
        ) from e
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Converter:
    """Turn composed PyYAML nodes into dicts, lists and scalars, keeping positions."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.source = SourceMap(display)
        self.findings: list[Finding] = []
        self.nodes_seen = 0

    def convert(self, node: yaml.Node, path: PathKey) -> Any:
        self.nodes_seen += 1
        if self.nodes_seen > MAX_NODES:
            line, column = _position(node)
            raise _fatal(
                self.display,
                line,
                column,
                f"document expands to more than {MAX_NODES} nodes, most likely through "
                "aliases (*name) that repeat large anchors; write the values out",
            )
        self.source.values.setdefault(path, _position(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, _SEQ_TAG)
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        self._check_tag(node, _MAP_TAG)
        result: dict[str, Any] = {}
        own_keys: dict[str, Position] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if _is_merge_key(key_node):
                for source in _merge_sources(value_node):
                    value = self.convert(source, path)
                    if not isinstance(value, dict):
                        self._error(value_node, "'<<' merges only mappings")
                        continue
                    for key, item in value.items():
                        merged.setdefault(key, item)
                continue
            key = self._key(key_node)
            if key is None:
                continue
            key_position = _position(key_node)
            if key in own_keys:
                first_line, _ = own_keys[key]
                self._error(
                    key_node,
                    f"duplicate key '{key}' (first defined on line {first_line}); "
                    "YAML parsers silently keep only one of them, so remove one",
                )
                continue
            own_keys[key] = key_position
            self.source.keys[(*path, key)] = key_position
            result[key] = self.convert(value_node, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _key(self, node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self._error(node, "a mapping key must be a plain string")
            return None
        value = self._scalar(node)
        if value is None or value == "":
            self._error(node, "empty mapping key")
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(node.value) if not isinstance(value, str) else value

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        text: str = node.value
        if node.tag == _PLAIN_TAG:
            return self._plain(node, text)
        if node.tag in _STANDARD_SCALAR_TAGS and node.tag != _STR_TAG:
            # An explicit tag such as !!int: let PyYAML's safe constructor apply it.
            try:
                return yaml.SafeLoader("").construct_object(node, deep=True)
            except yaml.YAMLError as e:
                self._error(node, f"cannot read value {text!r} as {node.tag}: {e}")
                return text
        self._check_tag(node, _STR_TAG)
        return text

    def _plain(self, node: yaml.ScalarNode, text: str) -> Any:
        if text in _NULLS:
            return None
        if text in _TRUES:
            return True
        if text in _FALSES:
            return False
        if _INT.fullmatch(text):
            return int(text)
        if _INT_OCT.fullmatch(text):
            return int(text[2:], 8)
        if _INT_HEX.fullmatch(text):
            return int(text[2:], 16)
        if _FLOAT.fullmatch(text):
            return float(text)
        if _FLOAT_INF.fullmatch(text):
            return -math.inf if text.startswith("-") else math.inf
        if _FLOAT_NAN.fullmatch(text):
            return math.nan
        trap = _yaml11_trap(text)
        if trap:
            self._error(node, trap)
        return text

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            self._error(node, f"unsupported YAML tag {node.tag!r}; remove it")

    def _error(self, node: yaml.Node, message: str) -> None:
        line, column = _position(node)
        self.findings.append(Finding(self.display, line, column, message))


def _yaml11_trap(text: str) -> str | None:
    """Describe how YAML 1.1 reads a plain scalar that YAML 1.2 reads as a string."""
    quoted = f'"{text}"'
    if text in _YAML11_BOOLS:
        meaning = "true" if text.lower() in {"yes", "on"} else "false"
        return (
            f"unquoted {text} is read as {meaning} by YAML 1.1 parsers and as a "
            f"string by others; write {quoted} for a string or {meaning} for a boolean"
        )
    if _LEADING_ZERO.fullmatch(text):
        return (
            f"unquoted {text} has a leading zero, which YAML 1.1 parsers read as an "
            f"octal number; write {quoted} for a string or drop the zero for a number"
        )
    if _SEXAGESIMAL.fullmatch(text):
        return (
            f"unquoted {text} is read as a base-60 number by YAML 1.1 parsers; "
            f"write {quoted} to keep the text"
        )
    if _YAML11_NUMBER.fullmatch(text):
        return (
            f"unquoted {text} is read as a number by some YAML parsers and as a "
            f"string by others; write {quoted} for a string or a plain decimal number"
        )
    return None


def _is_merge_key(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag in (_PLAIN_TAG, "tag:yaml.org,2002:merge")
        and node.value == "<<"
    )


def _merge_sources(node: yaml.Node) -> Iterator[yaml.Node]:
    """Yield the mappings that a '<<' key merges; earlier ones take precedence."""
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    else:
        yield node


def _position(node: yaml.Node) -> Position:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


def _type_name(value: Any) -> str:
    if value is None:
        return "null value"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _syntax_error(display: str, error: yaml.MarkedYAMLError) -> ConfigError:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = error.problem or "invalid YAML"
    if "'\\t'" in problem:
        message = "tab character in indentation; YAML allows only spaces there"
    elif "expected a single document" in str(error):
        message = "file holds more than one YAML document ('---'); keep one per file"
    elif "found undefined alias" in problem or "expected alphabetic or numeric" in (
        problem
    ):
        message = (
            f"invalid YAML: {problem}; a value that starts with '*' (such as a cron "
            "expression) must be quoted"
        )
    elif error.context:
        message = f"invalid YAML: {problem} ({error.context})"
    else:
        message = f"invalid YAML: {problem}"
    return _fatal(display, line, column, message)


def _fatal(display: str, line: int, column: int, message: str) -> ConfigError:
    return ConfigError([Finding(display, line, column, message)])
