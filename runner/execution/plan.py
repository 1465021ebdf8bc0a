"""Turn validated jobs into planned calls: key material loaded, variables expanded.

Each identity and truststore is loaded once per configuration, however many jobs
use it. A job whose identity, truststore or variables cannot be resolved becomes
planned calls that carry the error, so the other jobs still run.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from runner.config.expand import Expander
from runner.config.http_syntax import check_header_value, check_url, encode_url
from runner.config.loader import Config, Defined
from runner.config.models import (
    Endpoint,
    Expect,
    Job,
    endpoint_name,
    header_templates,
)
from runner.errors import JobConfigError, JobError
from runner.execution.material import KeyMaterial
from runner.report.redact import redact_url
from runner.tls.identity import LoadedIdentity
from runner.tls.truststore import SYSTEM_NAME
from runner.transport.classify import CallContext
from runner.transport.request import DEFAULT_BODY_LIMIT, Request, TlsSettings


@dataclass(frozen=True)
class PlannedCall:
    """One endpoint of one job, ready to run or carrying the error that stops it."""

    job: str
    endpoint: str
    method: str
    url: str  # for records and logs, with secrets redacted
    expect: Expect
    retries: int
    request: Request | None = None
    context: CallContext | None = None
    error: JobError | None = None
    secret_values: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def identity(self) -> LoadedIdentity | None:
        return self.context.identity if self.context else None


def plan_calls(
    config: Config,
    job_names: Iterable[str],
    material: KeyMaterial,
    environ: Mapping[str, str] | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
) -> list[PlannedCall]:
    """Plan every endpoint of the named jobs, in file order."""
    env = os.environ if environ is None else environ
    calls: list[PlannedCall] = []
    for name in job_names:
        calls.extend(plan_job(config.jobs[name], material, env, body_limit))
    return calls


def plan_job(
    defined: Defined[Job],
    material: KeyMaterial,
    environ: Mapping[str, str],
    body_limit: int = DEFAULT_BODY_LIMIT,
) -> list[PlannedCall]:
    """Plan the endpoints of one job; errors become calls that carry them."""
    job = defined.model
    try:
        identity = material.identity(job.identity) if job.identity else None
        truststore = material.truststore(job.truststore)
    except JobError as e:
        return [_failed(defined, endpoint, e) for endpoint in job.endpoints]
    tls = TlsSettings(
        ca_pem=truststore.pem,
        cert_pem=identity.chain_pem if identity else None,
        key_pem=identity.key_pem if identity else None,
        pool_key="/".join(
            [
                identity.pool_key if identity else "-",
                truststore.pool_key,
                job.http_version or "auto",
            ]
        ),
    )
    calls = []
    for endpoint in job.endpoints:
        expander = Expander(environ, f"job '{defined.name}' ({defined.where})")
        try:
            request = _request(defined, endpoint, tls, expander, body_limit)
        except JobError as e:
            calls.append(_failed(defined, endpoint, e))
            continue
        host = urlsplit(request.url).hostname or ""
        context = CallContext(
            url=request.url,
            host=host,
            identity=identity,
            truststore=truststore.name if job.truststore else SYSTEM_NAME,
            timeout=job.timeout,
            connect_timeout=job.connect_timeout,
            max_response_bytes=job.max_response_bytes,
            trusted=truststore.certificates,
            truststore_sources=truststore.sources,
            system_store=job.truststore is None,
        )
        secrets = frozenset(expander.secret_values)
        calls.append(
            PlannedCall(
                job=defined.name,
                endpoint=endpoint_name(endpoint),
                method=endpoint.method,
                url=redact_url(request.url, secrets),
                expect=endpoint.expect,
                retries=job.retries,
                request=request,
                context=context,
                secret_values=secrets,
            )
        )
    return calls


def _request(
    defined: Defined[Job],
    endpoint: Endpoint,
    tls: TlsSettings,
    expander: Expander,
    body_limit: int,
) -> Request:
    job = defined.model
    url = _expanded_url(defined, endpoint, expander)
    parts = urlsplit(url)
    headers = {
        key: (name, _expanded_header(defined, name, value, expander))
        for key, (name, value) in header_templates(job, endpoint).items()
    }
    body: bytes | None = None
    if endpoint.body is not None:
        body = expander.expand(endpoint.body, "body").encode()
    elif endpoint.json_body is not None:
        document: Any = expander.expand_json(endpoint.json_body, "json")
        body = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        headers.setdefault("content-type", ("Content-Type", "application/json"))
    needles = (endpoint.expect.body_contains,) if endpoint.expect.body_contains else ()
    return Request(
        url=url,
        tls=tls,
        method=endpoint.method,
        headers=tuple(headers.values()),
        body=body,
        resolve=_resolve_entries(job, parts.hostname or "", parts.port or 443),
        timeout=job.timeout,
        connect_timeout=job.connect_timeout,
        http_version=job.http_version,
        max_response_bytes=job.max_response_bytes,
        body_limit=body_limit,
        body_needles=tuple(n.encode() for n in needles),
    )


def _expanded_url(defined: Defined[Job], endpoint: Endpoint, expander: Expander) -> str:
    """Expand the URL's variables and check the result as validate checks URLs.

    Returns the URL with non-ASCII characters percent-encoded. The error shows the
    URL with the values of secret variables redacted.
    """
    url = expander.expand(endpoint.url, "url")
    try:
        check_url(url)
    except ValueError as e:
        shown = redact_url(url, expander.secret_values)
        raise JobConfigError(
            f"job '{defined.name}' ({defined.where}): after expanding variables, "
            f"URL {shown!r} {e}",
            "check the values of the variables used in 'url'",
        ) from None
    encoded = encode_url(url)
    if encoded != url:
        # The record shows the encoded URL, so hide the encoded secrets too.
        expander.secret_values |= {encode_url(v) for v in expander.secret_values}
    return encoded


def _expanded_header(
    defined: Defined[Job], name: str, value: str, expander: Expander
) -> str:
    """Expand a header value and check it; the error never shows the value."""
    expanded = expander.expand(value, f"header {name}")
    try:
        return check_header_value(expanded)
    except ValueError as e:
        raise JobConfigError(
            f"job '{defined.name}' ({defined.where}): after expanding variables, "
            f"the value of header {name} {e}",
            f"check the values of the variables used in header {name}",
        ) from None


def _resolve_entries(job: Job, host: str, port: int) -> tuple[str, ...]:
    """Build curl --resolve entries for this URL's host, as "host:port:address".

    ``host`` is lowercase, as urllib returns it, and resolve keys match it in any
    case, as host names do.
    """
    resolve = {name.lower(): address for name, address in job.resolve.items()}
    address = resolve.get(host)
    if address is None:
        return ()
    if ipaddress.ip_address(address).version == 6:
        address = f"[{address}]"
    return (f"{host}:{port}:{address}",)


def _failed(defined: Defined[Job], endpoint: Endpoint, error: JobError) -> PlannedCall:
    return PlannedCall(
        job=defined.name,
        endpoint=endpoint_name(endpoint),
        method=endpoint.method,
        url=redact_url(endpoint.url),
        expect=endpoint.expect,
        retries=defined.model.retries,
        error=error,
    )
