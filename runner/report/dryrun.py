"""Text of ``run --dry-run``: per job its schedule, key material and requests."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from runner.config.models import header_templates
from runner.config.units import format_duration
from runner.report.curl import curl_command
from runner.report.redact import redact_headers
from runner.tls.certinfo import iso_time

if TYPE_CHECKING:
    from runner.execution.dryrun import JobPreview

# Truststores such as the system store hold hundreds of certificates.
MAX_LISTED_CERTIFICATES = 20
INDENT = "  "


def format_preview(preview: JobPreview) -> list[str]:
    """Return the lines that describe one job of a dry run."""
    defined = preview.defined
    lines = [f"job '{defined.name}' ({defined.where})"]
    lines += _schedule_lines(preview)
    lines += _identity_lines(preview)
    lines += _truststore_lines(preview)
    for error in preview.errors:
        lines.append(f"{INDENT}cannot start: {error.kind}: {error.message}")
        lines.append(f"{INDENT}{INDENT}hint: {error.hint}")
    lines += _request_lines(preview)
    return lines


def format_header() -> str:
    """Return the opening lines: what a dry run does, what its curl commands need."""
    return (
        "dry run: every job is loaded and planned, and nothing is sent. Each request\n"
        "comes with an equivalent curl command for a curl built on OpenSSL ('curl\n"
        "--version' names the TLS library). Its paths are absolute; files that the\n"
        "notes under a command tell you to make go to the folder the command runs in.\n"
    )


def format_summary(previews: list[JobPreview]) -> str:
    """Return the closing line: how many jobs and requests would run or fail."""
    failing = [p for p in previews if p.errors]
    requests = sum(1 for p in previews for c in p.calls if c.error is None)
    summary = (
        f"dry run: {len(previews) - len(failing)} of {len(previews)} jobs would "
        f"start, with {requests} requests"
    )
    if failing:
        names = ", ".join(f"'{p.defined.name}'" for p in failing)
        summary += f"; {names} would fail to start"
    return summary + "; no connection was opened"


def _schedule_lines(preview: JobPreview) -> list[str]:
    job = preview.defined.model
    if job.schedule is None:
        return [
            f"{INDENT}schedule: none, so the service skips this job; run --once runs it"
        ]
    jitter = f", plus up to {format_duration(job.jitter)} jitter" if job.jitter else ""
    times = []
    for moment in preview.next_runs:
        text = _format_time(moment, preview.zone)
        if moment == preview.now:
            text += " (at start)"
        times.append(text)
    return [
        f"{INDENT}schedule: {job.schedule}{jitter}",
        f"{INDENT}next runs: {', '.join(times)}",
    ]


def _identity_lines(preview: JobPreview) -> list[str]:
    name = preview.defined.model.identity
    if name is None:
        return [f"{INDENT}identity: none, so no client certificate is sent"]
    identity = preview.identity
    if identity is None:
        return [f"{INDENT}identity '{name}': cannot be loaded (see below)"]
    info = identity.info
    pad = INDENT * 2
    lines = [
        f"{INDENT}identity '{name}':",
        f"{pad}subject:   {info.subject}",
        f"{pad}issuer:    {info.issuer}",
        f"{pad}not after: {iso_time(info.not_after)}",
        f"{pad}SHA-256:   {info.sha256}",
    ]
    if len(identity.chain):
        lines.append(f"{pad}chain:     {len(identity.chain)} more certificates")
    if info.not_after < preview.now:
        lines.append(f"{pad}warning: the certificate has expired; servers reject it")
    elif info.not_before > preview.now:
        lines.append(f"{pad}warning: the certificate is not valid yet")
    return lines


def _truststore_lines(preview: JobPreview) -> list[str]:
    name = preview.defined.model.truststore or "system"
    truststore = preview.truststore
    if truststore is None:
        return [f"{INDENT}truststore '{name}': cannot be loaded (see below)"]
    certificates = truststore.certificates
    count = len(certificates)
    noun = "certificate" if count == 1 else "certificates"
    lines = [f"{INDENT}truststore '{name}': {count} {noun}"]
    for certificate in certificates[:MAX_LISTED_CERTIFICATES]:
        lines.append(f"{INDENT * 2}{certificate.subject.rfc4514_string()}")
    if len(certificates) > MAX_LISTED_CERTIFICATES:
        more = len(certificates) - MAX_LISTED_CERTIFICATES
        lines.append(f"{INDENT * 2}and {more} more")
    return lines


def _request_lines(preview: JobPreview) -> list[str]:
    job = preview.defined.model
    config = preview.config
    identity = config.identities[job.identity] if job.identity else None
    truststore = config.truststores[job.truststore] if job.truststore else None
    lines: list[str] = []
    # plan_job returns one call per endpoint, in the order of the endpoints.
    for endpoint, call in zip(job.endpoints, preview.calls, strict=True):
        lines.append(f"{INDENT}request '{call.endpoint}': {call.method} {call.url}")
        request = call.request
        if request is None:
            continue
        pad = INDENT * 2
        headers = redact_headers(request.headers, call.secret_values)
        lines += [f"{pad}{name}: {value}" for name, value in headers.items()]
        command = curl_command(
            request,
            call.url,
            call.secret_values,
            identity,
            truststore,
            header_templates(job, endpoint),
        )
        lines += [pad + line for line in command]
    return lines


def _format_time(moment: dt.datetime, zone: dt.tzinfo) -> str:
    text = moment.astimezone(zone).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")
