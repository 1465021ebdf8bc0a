"""Load one job file into plain data and remember where every node came from.

Plain scalars follow the YAML 1.2 core schema, and those that YAML 1.1 reads
differently are reported (see scalars.py). Limits apply before and during
parsing: a file larger than MAX_FILE_BYTES is not parsed, and the composer stops
at MAX_NODES nodes or MAX_DEPTH levels, which bounds time and memory for
documents that expand aliases many times over.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runner.config.composer import (
    MAX_DEPTH,
    MAX_NODES,
    Composer,
    PathKey,
    Position,
    SourceMap,
)
from runner.errors import ConfigError, Finding, UsageError

try:  # libyaml's parser is about ten times faster than the pure Python one
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Parser  # type: ignore[assignment]

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "PathKey",
    "Position",
    "SourceMap",
    "YamlDocument",
    "parse_yaml",
    "read_yaml_file",
]

# A job file of 1 MiB already contains thousands of jobs. A larger file is most
# likely something else, such as a certificate bundle or a log, named by mistake.
MAX_FILE_BYTES = 1024 * 1024

# Characters that YAML forbids in a stream (YAML 1.1 and 1.2, "c-printable").
_NON_PRINTABLE = re.compile(
    "[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass
class YamlDocument:
    """One parsed job file: its data, node positions and the YAML traps found."""

    file: str
    data: Any
    source: SourceMap
    findings: list[Finding]


def read_yaml_file(path: Path, display: str) -> YamlDocument:
    """Read and parse one job file.

    Raises ConfigError when the file cannot be parsed at all, and UsageError when
    it cannot be read.
    """
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as e:
        if not path.is_symlink():
            raise UsageError(f"{display}: cannot read file: {e.strerror}") from e
        raise _fatal(
            display,
            1,
            1,
            f"symbolic link to {os.readlink(path)}, which does not exist; fix the "
            "link or remove it",
        ) from None
    except OSError as e:
        raise UsageError(f"{display}: cannot read file: {e.strerror}") from e
    if len(raw) > MAX_FILE_BYTES:
        raise _fatal(
            display,
            1,
            1,
            f"file is larger than the limit of {MAX_FILE_BYTES} bytes for a job "
            "file; split it into several files",
        )
    return parse_yaml(raw, display)


def parse_yaml(raw: bytes, display: str) -> YamlDocument:
    """Parse the bytes of one job file into located data."""
    text = _decode(raw, display)
    _check_printable(text, display)
    composer = Composer(display)
    parser = _Parser(text)
    try:
        data = composer.compose(_node_events(parser, display))
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(display, text, e) from None
    except yaml.YAMLError as e:
        raise _fatal(display, 1, 1, f"invalid YAML: {_first_line(e)}") from None
    finally:
        parser.dispose()
    if data is None:
        raise _fatal(
            display, 1, 1, "file is empty; a job file starts with 'version: 1'"
        )
    if not isinstance(data, dict):
        line, column = composer.source.locate(())
        raise _fatal(
            display,
            line,
            column,
            f"the top level is a {_type_name(data)}, but a job file must be a mapping "
            "that starts with 'version: 1'",
        )
    return YamlDocument(display, data, composer.source, composer.findings)


def _node_events(parser: Any, display: str) -> Iterator[yaml.Event]:
    """Yield the node events of the first document; reject a second document."""
    documents = 0
    while parser.check_event():
        event = parser.get_event()
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise _fatal(
                    display,
                    line,
                    1,
                    "file holds more than one YAML document ('---'); keep one per "
                    "file, or split them into several files",
                )
        elif isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
            yield event


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
        ) from None
    # NOTE: libyaml also ends lines at U+0085, U+2028 and U+2029, so positions after
    # one of those characters are a line further down than editors show them.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_printable(text: str, display: str) -> None:
    match = _NON_PRINTABLE.search(text)
    if match is None:
        return
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    raise _fatal(
        display,
        line,
        column,
        f"control character U+{ord(match.group()):04X} is not allowed in YAML; "
        "remove it (write it as an escape such as \\x07 in a double-quoted string)",
    )


def _syntax_error(display: str, text: str, error: yaml.MarkedYAMLError) -> ConfigError:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = error.problem or "invalid YAML"
    context = error.context or ""
    tab = _tab_in_indentation(text, line)
    if tab is not None:
        return _fatal(
            display,
            line,
            tab,
            "tab character in indentation; YAML allows only spaces there",
        )
    if "alias" in context or "alphabetic or numeric" in problem:
        message = (
            f"invalid YAML: {problem}; a value that starts with '*' (such as a cron "
            "expression) must be quoted"
        )
    elif context:
        message = f"invalid YAML: {problem} ({context})"
    else:
        message = f"invalid YAML: {problem}"
    if any(word in problem for word in _INDENTATION_PROBLEMS):
        message += (
            "; check that this line is indented like the keys it belongs with, "
            "with spaces only"
        )
    return _fatal(display, line, column, message)


# PyYAML's wording for a line whose indentation fits no open mapping or list.
_INDENTATION_PROBLEMS = (
    "did not find expected key",
    "expected <block end>",
    "did not find expected '-' indicator",
    "mapping values are not allowed here",
)


def _tab_in_indentation(text: str, line: int) -> int | None:
    """Return the column of a tab in the indentation of ``line``, if there is one."""
    lines = text.split("\n", line)
    if line > len(lines):
        return None
    content = lines[line - 1]
    indentation = content[: len(content) - len(content.lstrip(" \t"))]
    index = indentation.find("\t")
    return index + 1 if index >= 0 else None


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def _first_line(error: Exception) -> str:
    return str(error).split("\n", 1)[0]


def _fatal(display: str, line: int, column: int, message: str) -> ConfigError:
    return ConfigError([Finding(display, line, column, message)])
