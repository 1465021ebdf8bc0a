"""Format doctor reports as a readable checklist, one block per endpoint."""

from __future__ import annotations

from runner.diagnosis.doctor import EndpointReport

_INDENT = "         "


def format_report(report: EndpointReport) -> str:
    """Format one endpoint's checklist, ending with the most likely fix."""
    lines = [f"job '{report.job}', endpoint '{report.endpoint}': {report.url}"]
    for check in report.checks:
        lines.append(f"  [{check.status.value:^4}] {check.text}")
        lines.extend(f"{_INDENT}{detail}" for detail in check.details)
    if report.fix:
        lines.append(f"  fix: {report.fix}")
    return "\n".join(lines) + "\n"


def format_summary(reports: list[EndpointReport]) -> str:
    """Count the endpoints whose real call met its expectation."""
    passed = sum(1 for report in reports if report.ok)
    return f"doctor: {passed} of {len(reports)} endpoints passed\n"
