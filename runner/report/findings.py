"""Print validation findings as text, as one JSON document, or as GitHub annotations.

Every format lists the findings sorted by file, line and column, and the exit code
depends only on whether any finding is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from runner.errors import Finding

Format = Literal["text", "json", "github"]
FORMATS: tuple[Format, ...] = ("text", "json", "github")


@dataclass(frozen=True)
class ValidationReport:
    """The findings of one validate run over ``files`` job files."""

    files: int
    findings: tuple[Finding, ...]

    @classmethod
    def of(cls, files: int, findings: Sequence[Finding]) -> ValidationReport:
        return cls(files, tuple(sorted(set(findings))))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def exit_code(self) -> int:
        """Return 1 when any finding is an error, else 0 (warnings pass)."""
        return 1 if self.errors else 0

    def summary(self) -> str:
        """Describe the counts in one line, such as '2 errors, 1 warning in 3 files'."""
        counts = (
            f"{_plural(len(self.errors), 'error')}, "
            f"{_plural(len(self.warnings), 'warning')}"
        )
        return f"{counts} in {_plural(self.files, 'file')}"


def render(report: ValidationReport, output_format: Format) -> str:
    """Return the report in one of FORMATS, ending with a newline."""
    return _RENDERERS[output_format](report)


def render_text(report: ValidationReport) -> str:
    """Write a FILE:LINE:COLUMN: SEVERITY: MESSAGE line per finding, then a summary."""
    lines = [finding.format() for finding in report.findings]
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def render_json(report: ValidationReport) -> str:
    """Write one JSON document with 'errors' and 'warnings' lists and a summary."""
    document = {
        "errors": [_json_item(f) for f in report.errors],
        "warnings": [_json_item(f) for f in report.warnings],
        "summary": {
            "files": report.files,
            "errors": len(report.errors),
            "warnings": len(report.warnings),
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_github(report: ValidationReport) -> str:
    """Write one ::error or ::warning workflow command per finding, then a summary."""
    lines = [
        f"::{f.severity} file={_escape_property(f.file)},line={f.line},"
        f"col={f.column}::{_escape_data(f.message)}"
        for f in report.findings
    ]
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def _json_item(finding: Finding) -> dict[str, str | int]:
    return {
        "file": finding.file,
        "line": finding.line,
        "column": finding.column,
        "message": finding.message,
    }


def _escape_data(text: str) -> str:
    """Escape a workflow command message as the GitHub Actions runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """Escape a workflow command property value, where ':' and ',' also separate."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


_RENDERERS: dict[Format, Callable[[ValidationReport], str]] = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
}
