"""Turn validated jobs into planned calls: key material loaded, variables expanded.

Each identity and truststore is loaded once per configuration, however many jobs
use it. A job whose identity, truststore or variables cannot be resolved becomes
planned calls that carry the error, so the other jobs still run.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
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
from runner.execution.sources import (
    FileSignature,
    Source,
    file_signature,
    identity_sources,
    truststore_sources,
)
from runner.report.redact import redact_url
from runner.tls.identity import LoadedIdentity, load_identity
from runner.tls.truststore import (
    SYSTEM_NAME,
    LoadedTruststore,
    load_system_truststore,
    load_truststore,
)
from runner.transport.classify import CallContext
from runner.transport.request import DEFAULT_BODY_LIMIT, Request, TlsSettings

T = TypeVar("T")

# Seconds between two checks of the same key material files for changes.
CHECK_INTERVAL_S = 0.5


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


class KeyMaterial:
    """Load identities and truststores on first use and keep them, errors included.

    Each entry remembers the size, modification time and inode of the files it
    was read from. ``reload_changed`` compares them with the files on disk and
    drops the entries whose files changed, so the next use reads them again:
    a rotated certificate is picked up without a restart. It checks an entry's
    files at most every ``check_interval`` seconds, so a burst of jobs that share
    an identity costs one ``stat`` per file.
    """

    def __init__(
        self,
        config: Config,
        check_interval: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.check_interval = check_interval
        self.clock = clock
        self._identities: dict[str, LoadedIdentity | JobError] = {}
        self._truststores: dict[str, LoadedTruststore | JobError] = {}
        self._sources: dict[str, list[Source]] = {}
        self._signatures: dict[str, FileSignature] = {}
        self._checked: dict[str, float] = {}
        self._generations: dict[str, int] = {}

    def identity(self, name: str) -> LoadedIdentity:
        if name not in self._identities:
            defined = self.config.identities[name]
            self._remember_files(_identity_key(name), identity_sources(defined))
            try:
                self._identities[name] = load_identity(defined)
            except JobError as e:
                self._identities[name] = e
        return _value_or_raise(self._identities[name])

    def truststore(self, name: str | None) -> LoadedTruststore:
        key = _truststore_key(name)
        if key not in self._truststores:
            defined = self.config.truststores[name] if name is not None else None
            self._remember_files(key, truststore_sources(defined))
            try:
                if defined is None:
                    self._truststores[key] = load_system_truststore()
                else:
                    self._truststores[key] = load_truststore(defined)
            except JobError as e:
                self._truststores[key] = e
        return _value_or_raise(self._truststores[key])

    def versions(self, job: Job) -> tuple[int, int]:
        """Return the generations of the job's identity and truststore.

        A generation grows with every load and every reload_changed that drops
        the entry, so calls planned under other generations carry outdated keys.
        """
        identity = self._generations.get(_identity_key(job.identity or ""), 0)
        return identity, self._generations.get(_truststore_key(job.truststore), 0)

    def reload_changed(self, job: Job) -> list[str]:
        """Forget the job's identity and truststore if their files changed on disk.

        Returns what was forgotten, as "identity 'NAME'" or "truststore 'NAME'".
        """
        changed = []
        name = job.identity
        if (
            name is not None
            and name in self._identities
            and self._files_changed(_identity_key(name))
        ):
            del self._identities[name]
            changed.append(f"identity '{name}'")
        key = _truststore_key(job.truststore)
        if key in self._truststores and self._files_changed(key):
            del self._truststores[key]
            changed.append(f"truststore '{job.truststore or SYSTEM_NAME}'")
        return changed

    def _remember_files(self, key: str, sources: list[Source]) -> None:
        # The signature is taken before the files are read, so a change made
        # while they are read shows at the next check.
        self._sources[key] = sources
        self._signatures[key] = file_signature(sources)
        self._checked[key] = self.clock()
        self._generations[key] = self._generations.get(key, 0) + 1

    def _files_changed(self, key: str) -> bool:
        now = self.clock()
        if now - self._checked[key] < self.check_interval:
            return False
        self._checked[key] = now
        if file_signature(self._sources[key]) == self._signatures[key]:
            return False
        self._generations[key] += 1
        return True


def _identity_key(name: str) -> str:
    return f"identity:{name}"


def _truststore_key(name: str | None) -> str:
    return f"truststore:{name}" if name is not None else f"<{SYSTEM_NAME}>"


def _value_or_raise(value: T | JobError) -> T:
    if isinstance(value, JobError):
        raise value
    return value


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
