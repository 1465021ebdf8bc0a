"""Check the settings of each job against each other, after the models accepted them.

The models check one value at a time. These checks find settings that are valid
alone but conflict, or that have no effect, and locate each finding at the YAML
node to change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from runner.config.http_syntax import split_authority
from runner.config.models import Endpoint, Job, endpoint_name
from runner.errors import Finding, Severity

if TYPE_CHECKING:  # the loader imports this module
    from runner.config.loader import Config

PathKey = tuple[str | int, ...]


def check_jobs(config: Config) -> list[Finding]:
    """Return the findings of every job of ``config`` that the models accepted."""
    findings: list[Finding] = []
    for defined in config.jobs.values():
        base: PathKey = ("jobs", defined.name)
        for keys, message, severity in _job_problems(defined.model):
            document = config.documents[defined.file]
            line, column = document.source.locate((*base, *keys), prefer_key=True)
            text = f"job '{defined.name}': {message}"
            findings.append(Finding(defined.file, line, column, text, severity))
    return findings


Problem = tuple[PathKey, str, Severity]


def _job_problems(job: Job) -> Iterator[Problem]:
    yield from _header_case(("headers",), job.headers)
    for index, endpoint in enumerate(job.endpoints):
        keys: PathKey = ("endpoints", index)
        yield from _header_case((*keys, "headers"), endpoint.headers)
        yield from _expect_conflict(keys, endpoint)
    yield from _endpoint_names(job.endpoints)
    yield from _resolve_entries(job)


def _header_case(keys: PathKey, headers: Mapping[str, str]) -> Iterator[Problem]:
    """Report header names that differ only in case: only the last one is sent."""
    first: dict[str, str] = {}
    for name in headers:
        earlier = first.setdefault(name.lower(), name)
        if earlier != name:
            yield (
                (*keys, name),
                f"header '{name}' repeats '{earlier}', because header names ignore "
                "case, so only one of them is sent; keep one",
                "error",
            )


def _expect_conflict(keys: PathKey, endpoint: Endpoint) -> Iterator[Problem]:
    expect = endpoint.expect
    if expect.fails_with is None:
        return
    for key in ("status", "body_contains"):
        if key in expect.model_fields_set:
            yield (
                (*keys, "expect", key),
                f"'{key}' has no effect next to 'fails_with: {expect.fails_with}', "
                "because the call must fail rather than answer; remove one of them",
                "error",
            )


def _endpoint_names(endpoints: list[Endpoint]) -> Iterator[Problem]:
    """Report endpoints of one job that share a name, which records cannot tell apart.

    A repeated explicit name is an error; two endpoints whose default names
    (method and path) are equal only get a warning.
    """
    seen: dict[str, int] = {}
    for index, endpoint in enumerate(endpoints):
        name = endpoint_name(endpoint)
        if name not in seen:
            seen[name] = index
            continue
        if endpoint.name is not None:
            yield (
                ("endpoints", index, "name"),
                f"endpoint name '{name}' is also used by endpoint {seen[name] + 1} of "
                "this job; records name endpoints, so give each a unique 'name'",
                "error",
            )
        else:
            yield (
                ("endpoints", index),
                f"endpoint {index + 1} has the same default name '{name}' as endpoint "
                f"{seen[name] + 1}, so their records look alike; add 'name:' to "
                "tell them apart",
                "warning",
            )


def _resolve_entries(job: Job) -> Iterator[Problem]:
    """Report resolve entries that repeat a host or match no endpoint's host."""
    hosts: set[str] = set()
    for endpoint in job.endpoints:
        host = _template_host(endpoint.url)
        if host is None:
            return  # a host comes from a variable: any entry may match it
        hosts.add(host)
    first: dict[str, str] = {}
    for name in job.resolve:
        earlier = first.setdefault(name.lower(), name)
        if earlier != name:
            yield (
                ("resolve", name),
                f"resolve entry '{name}' repeats '{earlier}', because host names "
                "ignore case; keep one",
                "error",
            )
        elif name.lower() not in hosts:
            yield (
                ("resolve", name),
                f"resolve entry '{name}' matches the host of no endpoint "
                f"({', '.join(sorted(hosts))}), so it has no effect; write the host "
                "name of an endpoint URL, without scheme or port",
                "warning",
            )


def _template_host(url: str) -> str | None:
    """Return the lowercase host of a job file URL, or None when a variable sets it."""
    if url.startswith("${"):
        return None
    host, _ = split_authority(urlsplit(url).netloc)
    return None if "${" in host else host.lower()
