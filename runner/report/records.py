"""Response records: one JSON object per call attempt, in the contract's shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

from runner.report.redact import redact_headers, scrub, scrub_cut_tail
from runner.tls.identity import LoadedIdentity
from runner.transport.classify import Failure
from runner.transport.request import Response

Record = dict[str, Any]


def build_record(
    *,
    job: str,
    endpoint: str,
    method: str,
    url: str,
    attempt: int,
    started: dt.datetime,
    ok: bool,
    response: Response | None,
    error: Failure | None,
    identity: LoadedIdentity | None,
    secret_values: frozenset[str] = frozenset(),
    truststore: str | None = None,
) -> Record:
    """Assemble a response record; ``response`` is None when no transfer ran.

    ``truststore`` names the truststore that verified the server, for ``tls``.
    ``identity`` is the certificate presented, so it is null unless the handshake
    got as far as the server's certificate (``tls`` is not null): a refused or
    silent connection presented nothing.
    """
    completed = response is not None and response.completed
    tls = _tls(response, truststore)
    return {
        "time": started.astimezone(dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "job": job,
        "endpoint": endpoint,
        "method": method,
        "url": url,
        "attempt": attempt,
        "ok": ok,
        "status": response.status if response else None,
        "duration_ms": response.timings_ms.get("total", 0.0) if response else 0.0,
        "timings_ms": dict(response.timings_ms) if response else None,
        "tls": tls,
        "identity": _identity(identity) if tls is not None else None,
        "response_headers": (
            redact_headers(response.headers, secret_values)
            if response is not None and completed
            else {}
        ),
        "body": _body(response, secret_values),
        "body_bytes": response.body_bytes if response else 0,
        "error": _error(error, secret_values),
    }


def _body(response: Response | None, secret_values: frozenset[str]) -> str | None:
    """Decode the kept body, hiding secrets that a server echoes back."""
    if response is None:
        return None
    text = scrub(response.body.decode("utf-8", "replace"), secret_values)
    if response.body_bytes > len(response.body):
        text = scrub_cut_tail(text, secret_values)
    return text


def _error(
    error: Failure | None, secret_values: frozenset[str]
) -> dict[str, str] | None:
    """Return the record's error; the kind stays as the contract names it."""
    if error is None:
        return None
    fields = error.record()
    fields["message"] = scrub(fields["message"], secret_values)
    fields["hint"] = scrub(fields["hint"], secret_values)
    return fields


def _tls(response: Response | None, truststore: str | None) -> dict[str, Any] | None:
    """Describe the handshake; None when the server sent no TLS facts at all.

    ``chain`` lists every certificate the server presented, leaf first, also when
    the runner rejected it, so a record shows what an untrusted or misnamed
    server sent.
    """
    if response is None:
        return None
    if response.tls_version is None and not response.server_certificates:
        return None
    chain = response.server_certificates
    leaf = chain[0] if chain else None
    return {
        "version": response.tls_version,
        "cipher": response.tls_cipher,
        "subject": leaf.subject if leaf else None,
        "issuer": leaf.issuer if leaf else None,
        "not_after": leaf.not_after if leaf else None,
        "chain": [certificate.record() for certificate in chain],
        "truststore": truststore,
    }


def _identity(identity: LoadedIdentity | None) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {"name": identity.name, **identity.info.record()}
