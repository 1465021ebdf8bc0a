"""Diagnose planned calls: probe each endpoint, check the identity, call it once.

The result per endpoint is a checklist that follows the path of a call: TCP, TLS
versions, the server's chain and whether the truststore accepts it, whether the
server asks for a client certificate and which CAs it names, whether the
identity leads to one of them, and finally one real call through the normal
transport, classified with the CA names the probe saw. The single fix at the
end is the hint of that classification. Probes go only to the job's own URLs,
at the address its ``resolve`` map gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from cryptography import x509

from runner.config.units import format_milliseconds
from runner.diagnosis.probe import Endpoint, ProbeResult, probe, verify_chain
from runner.errors import ErrorKind
from runner.execution.expect import evaluate
from runner.execution.plan import PlannedCall
from runner.tls.certinfo import iso_time
from runner.tls.checks import Problem, accepted_name_on_path, check_identity
from runner.tls.hostname import certificate_names, matches_host
from runner.transport.classify import CallContext, Failure, classify
from runner.transport.executor import Executor
from runner.transport.request import Request, Response

Prober = Callable[[Endpoint, float], ProbeResult]


class Status(Enum):
    """The verdict of one checklist line."""

    OK = "ok"
    FAIL = "FAIL"
    WARN = "warn"
    INFO = "info"


@dataclass(frozen=True)
class Check:
    """One line of the checklist, with optional indented detail lines.

    ``kind`` is the error kind that a failed check predicts for the call, so a
    call expected to fail that way turns the check into an expected one.
    """

    status: Status
    text: str
    details: tuple[str, ...] = ()
    kind: ErrorKind | None = None


@dataclass
class EndpointReport:
    """The checklist of one endpoint and the most likely fix."""

    job: str
    endpoint: str
    url: str
    checks: list[Check] = field(default_factory=list)
    fix: str = ""
    ok: bool = False


def diagnose_call(
    call: PlannedCall, executor: Executor, prober: Prober = probe
) -> EndpointReport:
    """Probe one planned call's endpoint, check its identity and call it once."""
    report = EndpointReport(call.job, call.endpoint, call.url)
    if call.error is not None or call.request is None or call.context is None:
        kind = call.error.kind if call.error else "config_invalid"
        message = call.error.message if call.error else "the call was not planned"
        report.checks.append(Check(Status.FAIL, f"{kind}: {message}"))
        report.fix = call.error.hint if call.error else ""
        return report
    context = call.context
    endpoint = endpoint_of(call.request)
    timeout = context.connect_timeout or context.timeout
    result = prober(endpoint, timeout)
    report.checks.extend(_connection_checks(result))
    if result.reached_tls:
        report.checks.extend(_server_checks(result, context))
        report.checks.extend(_client_checks(result, context))
    names = tuple(result.ca_names) if result.ca_names else None
    context = dataclasses.replace(context, server_ca_names=names)
    response = _real_call(call.request, executor)
    failure = classify(response, context)
    ok, reported = evaluate(call.expect, response, failure)
    report.checks.append(_call_check(call, response, ok, reported))
    if ok and call.expect.fails_with is not None:
        report.checks = _as_expected(report.checks, call.expect.fails_with)
    report.ok = ok
    report.fix = _fix(ok, reported)
    return report


def endpoint_of(request: Request) -> Endpoint:
    """Return the host, port and dialled address of a request, honouring resolve."""
    parts = urlsplit(request.url)
    host = parts.hostname or ""
    port = parts.port or 443
    address = host
    for entry in request.resolve:
        entry_host, entry_port, entry_address = entry.split(":", 2)
        if entry_host == host and int(entry_port) == port:
            address = entry_address.strip("[]")
    return Endpoint(host, port, address)


def _connection_checks(result: ProbeResult) -> list[Check]:
    where = result.endpoint.display
    if result.endpoint.address != result.endpoint.host:
        where += f" ({result.endpoint.host} via 'resolve')"
    if result.connect_error is not None:
        return [
            Check(
                Status.FAIL,
                f"TCP connection to {where}: {result.connect_error}",
                kind=ErrorKind.CONNECTION_FAILED,
            )
        ]
    checks = [Check(Status.OK, f"TCP connection to {where}")]
    # One accepted version is enough, so a refused other version is only noted.
    not_accepted = Status.INFO if result.reached_tls else Status.FAIL
    for version in result.versions:
        if version.accepted:
            checks.append(
                Check(Status.OK, f"{version.version} accepted: {version.detail}")
            )
        else:
            checks.append(
                Check(
                    not_accepted,
                    f"{version.version} not accepted: {version.detail}",
                    kind=ErrorKind.TLS_ERROR,
                )
            )
    return checks


def _server_checks(result: ProbeResult, context: CallContext) -> list[Check]:
    chain = result.chain
    details = tuple(
        line
        for index, certificate in enumerate(chain, 1)
        for line in _describe_certificate(index, certificate)
    )
    count = f"{len(chain)} certificate{'s' if len(chain) != 1 else ''}"
    checks = [Check(Status.INFO, f"server chain ({count})", details)]
    truststore = (
        "the operating system's store"
        if context.system_store
        else f"truststore '{context.truststore}'"
    )
    error = verify_chain(chain, context.trusted)
    if error is None:
        checks.append(Check(Status.OK, f"{truststore} accepts the server's chain"))
    else:
        checks.append(
            Check(
                Status.FAIL,
                f"{truststore} rejects the server's chain: {error}",
                kind=ErrorKind.SERVER_CERTIFICATE_UNTRUSTED,
            )
        )
    if chain and matches_host(chain[0], context.host):
        checks.append(
            Check(Status.OK, f"the server's certificate is valid for {context.host}")
        )
    elif chain:
        dns_names, addresses = certificate_names(chain[0])
        names = ", ".join([*dns_names, *addresses]) or "no alternative names"
        checks.append(
            Check(
                Status.FAIL,
                f"the server's certificate is not valid for {context.host}: it "
                f"names {names}",
                kind=ErrorKind.HOSTNAME_MISMATCH,
            )
        )
    return checks


def _client_checks(result: ProbeResult, context: CallContext) -> list[Check]:
    checks: list[Check] = []
    if not result.certificate_requested:
        checks.append(
            Check(
                Status.INFO,
                "the server does not ask for a client certificate in the handshake",
            )
        )
    elif result.ca_names:
        names = tuple(name.rfc4514_string() for name in result.ca_names)
        checks.append(
            Check(
                Status.OK,
                "the server asks for a client certificate from these CAs:",
                names,
            )
        )
    else:
        checks.append(
            Check(
                Status.OK,
                "the server asks for a client certificate and names no CAs, so its "
                "list cannot be compared",
            )
        )
    checks.extend(_identity_checks(result, context))
    return checks


def _identity_checks(result: ProbeResult, context: CallContext) -> list[Check]:
    identity = context.identity
    if identity is None:
        status = Status.FAIL if result.certificate_requested else Status.INFO
        return [
            Check(
                status,
                "the job sends no client certificate (no 'identity')",
                kind=ErrorKind.CLIENT_CERTIFICATE_REQUIRED,
            )
        ]
    leaf = identity.leaf
    checks = [
        Check(
            Status.INFO,
            f"identity '{identity.name}' sends {leaf.subject.rfc4514_string()}, "
            f"issued by {leaf.issuer.rfc4514_string()}, with "
            f"{len(identity.chain)} chain certificates",
        )
    ]
    names = result.ca_names if result.certificate_requested else []
    findings = check_identity(
        identity, trusted=context.trusted, accepted_names=names or None
    )
    for finding in findings:
        status = Status.FAIL if finding.certain else Status.WARN
        checks.append(
            Check(
                status,
                finding.message,
                (f"fix: {finding.fix}",),
                kind=ErrorKind.CLIENT_CERTIFICATE_REJECTED,
            )
        )
    if names and not any(f.problem is Problem.ISSUER_NOT_ACCEPTED for f in findings):
        match = accepted_name_on_path(identity, names, context.trusted)
        assert match is not None
        checks.append(
            Check(
                Status.OK,
                f"identity '{identity.name}' chains to {match.rfc4514_string()}, "
                "which the server names",
            )
        )
    return checks


def _real_call(request: Request, executor: Executor) -> Response:
    responses: list[Response] = []
    executor.submit(request, lambda _, response: responses.append(response))
    executor.run_until_idle()
    return responses[0]


def _call_check(
    call: PlannedCall, response: Response, ok: bool, failure: Failure | None
) -> Check:
    called = f"call {call.method} {call.url}"
    if failure is None:
        took = response.timings_ms.get("total", 0.0)
        return Check(
            Status.OK,
            f"{called}: status {response.status} in {format_milliseconds(took)}",
        )
    verdict = "failed as expected" if ok else "failed"
    return Check(
        Status.OK if ok else Status.FAIL,
        f"{called} {verdict}: {failure.kind}",
        (failure.message,),
    )


def _as_expected(checks: list[Check], kind: ErrorKind) -> list[Check]:
    """Mark failed checks that predict the expected failure as met expectations."""
    marked = []
    for check in checks:
        if check.status is Status.FAIL and check.kind == kind:
            text = f"{check.text}, as the endpoint expects (fails_with: {kind})"
            check = dataclasses.replace(check, status=Status.OK, text=text)
        marked.append(check)
    return marked


def _fix(ok: bool, failure: Failure | None) -> str:
    if ok:
        return "nothing to fix: the call met its expectation"
    assert failure is not None
    return failure.hint


def _describe_certificate(index: int, certificate: x509.Certificate) -> list[str]:
    dns_names, addresses = certificate_names(certificate)
    names = ", ".join([*dns_names, *addresses]) or "none"
    return [
        f"{index}. {certificate.subject.rfc4514_string()}",
        f"   issuer {certificate.issuer.rfc4514_string()}; names {names}; not after "
        f"{iso_time(certificate.not_valid_after_utc)}",
    ]
