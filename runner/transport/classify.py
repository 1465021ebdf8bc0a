"""Name the cause of a failed call: an error kind, a message and a fix.

libcurl's codes mislead in mutual TLS. Under TLS 1.3 a server's refusal of a
client certificate arrives after the handshake, as a read or send error (curl 55
or 56); under TLS 1.2 a missing certificate is a generic handshake failure (35);
a client certificate rejected under TLS 1.2 can surface as code 60, which reads
as if the server's certificate had failed; and nginx finishes the handshake and
responds with HTTP 400. The rules below therefore look, in order, at gateway error
pages, at mistakes in the client's own key material, at timeouts and refused
connections, at alerts received from the server, at the verification of the
server's certificate, and at connections closed right after the handshake.
Offline facts about the identity (runner.tls.checks) decide the hint wherever
the server refused the certificate. Unknown combinations become tls_error or
connection_failed with libcurl's text kept in the message.
"""

from __future__ import annotations

import pycurl

from runner.config.units import format_duration
from runner.errors import ErrorKind
from runner.tls.checks import Problem
from runner.transport.alerts import Alert, Effect, received_alert
from runner.transport.failure import CallContext, Failure
from runner.transport.gateways import match_gateway
from runner.transport.refusals import (
    certificate_rejected,
    certificate_required,
    misleading_code,
)
from runner.transport.request import Response
from runner.transport.responses import classify_response
from runner.transport.verification import classify_verification

__all__ = ["CallContext", "Failure", "classify"]

# libcurl's words when OpenSSL cannot pair the private key with the first
# certificate of the chain blob, or cannot read the blob at all.
# Below this limit a timeout is more likely the job's setting than a slow
# server, because one network round trip across a continent takes about as long
# and a TLS handshake needs two of them (estimates, not measurements).
SHORT_LIMIT_S = 0.1
_CLIENT_MATERIAL_TEXTS = (
    "unable to set private key",
    "unable to use client certificate",
    "could not load PEM client certificate",
    "unable to set client certificate",
)


def classify(response: Response, context: CallContext) -> Failure | None:
    """Return the failure of a transfer, or None when it brought a usable response."""
    if response.too_large:
        return _too_large(response, context)
    if response.completed:
        return _classify_gateway(response, context)
    return (
        _classify_client_material(response, context)
        or _classify_timeout(response, context)
        or _classify_connection(response, context)
        or _classify_empty_reply(response, context)
        or classify_response(response)
        or _classify_alert(response, context)
        or classify_verification(response, context)
        or _classify_closed(response, context)
        or _fallback(response)
    )


def _too_large(response: Response, context: CallContext) -> Failure:
    limit = context.max_response_bytes
    announced = next(
        (v for k, v in response.headers if k.lower() == "content-length"), None
    )
    if response.body_bytes == 0 and announced is not None:
        stopped = f"the server announced {announced} bytes (Content-Length)"
    else:
        stopped = f"the call was stopped after {response.body_bytes} bytes"
    return Failure(
        ErrorKind.UNEXPECTED_RESPONSE,
        f"response body is larger than max_response_bytes ({limit} bytes): {stopped}",
        "raise max_response_bytes for this job, or ask the API for less data",
    )


def _classify_gateway(response: Response, context: CallContext) -> Failure | None:
    signature = match_gateway(response.status, response.body)
    if signature is None:
        return None
    assert response.status is not None
    evidence = signature.describe(response.status)
    note = misleading_code(response)
    if signature.effect is Effect.REQUIRED:
        return certificate_required(context, evidence, note)
    return certificate_rejected(context, evidence, note=note)


def _classify_client_material(
    response: Response, context: CallContext
) -> Failure | None:
    message = response.curl_message
    if not any(text in message for text in _CLIENT_MATERIAL_TEXTS):
        return None
    reported = f"libcurl reported error {response.curl_code} '{message}'"
    findings = context.identity_findings()
    misordered = next(
        (f for f in findings if f.problem is Problem.LEAF_NOT_FIRST), None
    )
    if misordered is not None:
        return Failure(
            ErrorKind.IDENTITY_INVALID,
            f"{reported}, but the private key is readable: {misordered.message}, and "
            "OpenSSL pairs the key with the first certificate",
            misordered.fix,
        )
    return Failure(
        ErrorKind.IDENTITY_INVALID,
        f"OpenSSL could not use the client certificate and key: {reported}",
        "check that the certificate file starts with the certificate issued for the "
        "key; 'mtls-runner validate' loads and matches them",
    )


def _classify_timeout(response: Response, context: CallContext) -> Failure | None:
    if response.curl_code != pycurl.E_OPERATION_TIMEDOUT:
        return None
    timings = response.timings_ms
    elapsed = round(timings.get("total", 0.0) / 1000, 3)
    setting, limit = _applied_limit(response, context)
    configured = f"{setting}: {format_duration(limit)}"
    if limit < SHORT_LIMIT_S:
        phase = _phase_missed(response, context)
        hint = (
            f"'{configured}' may be too short for the {phase} even when the server "
            f"is healthy; raise '{setting}' for this job"
        )
        return Failure(
            ErrorKind.TIMEOUT,
            f"timed out after {format_duration(elapsed)} ({configured}) before the "
            f"{phase} finished (libcurl: '{response.curl_message}')",
            hint,
        )
    if not timings.get("connect"):
        phase = f"no TCP connection to {context.host} was established"
        hint = (
            "check that the server is up, that no firewall drops the packets, and "
            "the address in 'resolve' if the job has one"
        )
    elif not timings.get("tls"):
        phase = (
            "the TLS handshake did not finish: the server accepted the TCP "
            "connection but never answered the handshake"
        )
        hint = (
            "check that the port serves TLS (not plain HTTP or another protocol) "
            "and that no proxy or load balancer holds the connection"
        )
    else:
        phase = "the server did not send a complete response in time"
        hint = "raise 'timeout' for this job if the API is slow, or check the server"
    return Failure(
        ErrorKind.TIMEOUT,
        f"timed out after {format_duration(elapsed)} ({configured}): {phase} "
        f"(libcurl: '{response.curl_message}')",
        hint,
    )


def _applied_limit(response: Response, context: CallContext) -> tuple[str, float]:
    """Return the job setting that ended the call and its value in seconds.

    libcurl applies CURLOPT_CONNECTTIMEOUT until the TLS handshake finished, and
    CURLOPT_TIMEOUT to the whole call, so the smaller one ends the first phases.
    """
    connect = context.connect_timeout
    handshake_done = bool(response.timings_ms.get("tls"))
    if connect is not None and connect < context.timeout and not handshake_done:
        return "connect_timeout", connect
    return "timeout", context.timeout


def _phase_missed(response: Response, context: CallContext) -> str:
    timings = response.timings_ms
    if not timings.get("connect"):
        return f"TCP connection to {context.host}"
    if not timings.get("tls"):
        return "TLS handshake"
    return "response"


def _classify_connection(response: Response, context: CallContext) -> Failure | None:
    code = response.curl_code
    if code == pycurl.E_COULDNT_RESOLVE_HOST:
        return Failure(
            ErrorKind.CONNECTION_FAILED,
            f"cannot resolve host name {context.host} ({response.curl_message})",
            "check the URL's host, or map it to an address with 'resolve'",
        )
    if code in (pycurl.E_COULDNT_CONNECT, pycurl.E_COULDNT_RESOLVE_PROXY):
        return Failure(
            ErrorKind.CONNECTION_FAILED,
            f"nothing accepted a connection to {context.host}: the connection was "
            f"refused or unreachable ({response.curl_message})",
            "check that the server runs and listens on that address and port, and "
            "the 'resolve' mapping if the job has one",
        )
    return None


def _classify_alert(response: Response, context: CallContext) -> Failure | None:
    alert = received_alert(response.curl_message, response.tls_debug)
    if alert is None:
        return None
    evidence = f"it sent the TLS alert '{alert.name}' ({alert.meaning})"
    note = misleading_code(response)
    if alert.effect is Effect.REQUIRED:
        return certificate_required(context, evidence, note)
    if alert.effect is Effect.REJECTED:
        return certificate_rejected(context, evidence, alert=alert, note=note)
    if alert.effect is Effect.HANDSHAKE:
        return _handshake_failure(response, context, alert, evidence, note)
    return Failure(
        ErrorKind.TLS_ERROR,
        f"the TLS handshake failed: the server sent the alert '{alert.name}' "
        f"({alert.meaning}); libcurl: '{response.curl_message}'",
        alert.hint,
    )


def _handshake_failure(
    response: Response, context: CallContext, alert: Alert, evidence: str, note: str
) -> Failure:
    """Read handshake_failure, which OpenSSL servers send for a missing certificate
    under TLS 1.2, and for failed negotiations."""
    if context.identity is None and _certificate_requested(response):
        return certificate_required(
            context, f"it asked for a client certificate, then {evidence[3:]}", note
        )
    if any(f.certain for f in context.identity_findings()):
        return certificate_rejected(context, evidence, alert=alert, note=note)
    return Failure(
        ErrorKind.TLS_ERROR,
        f"the TLS handshake failed: the server sent the alert '{alert.name}' "
        f"({alert.meaning}); libcurl: '{response.curl_message}'",
        alert.hint,
    )


def _classify_closed(response: Response, context: CallContext) -> Failure | None:
    """Classify a connection closed right after the handshake, before a response."""
    if response.curl_code not in (pycurl.E_SEND_ERROR, pycurl.E_RECV_ERROR):
        return None
    if response.status is not None or response.tls_version is None:
        return None
    note = misleading_code(response)
    if context.identity is None:
        return certificate_required(
            context,
            "it closed the connection right after a TLS handshake in which no "
            "client certificate was sent",
            note,
        )
    if _certificate_requested(response):
        return certificate_rejected(
            context,
            "it asked for a client certificate, received it, and closed the "
            "connection right after the handshake without an alert reaching the "
            "runner",
            note=note,
        )
    return Failure(
        ErrorKind.TLS_ERROR,
        "the server closed the connection right after the TLS handshake without "
        f"asking for a client certificate (libcurl: '{response.curl_message}')",
        "the server may want the certificate later (TLS 1.3 post-handshake "
        "authentication, which libcurl does not support) or may have failed; "
        "check its logs",
    )


def _classify_empty_reply(response: Response, context: CallContext) -> Failure | None:
    """Read an empty reply to a call without a certificate as a missing one, when
    the server asked for a certificate in the handshake."""
    if response.curl_code != pycurl.E_GOT_NOTHING or context.identity is not None:
        return None
    if not _certificate_requested(response):
        return None
    return certificate_required(
        context,
        "it asked for a client certificate, received none, and closed the "
        "connection without a response",
        misleading_code(response),
    )


def _certificate_requested(response: Response) -> bool:
    """Tell from libcurl's verbose lines whether the server asked for a certificate."""
    return any("Request CERT" in line for line in response.tls_debug)


def _fallback(response: Response) -> Failure:
    code = response.curl_code
    tls_codes = {
        pycurl.E_SSL_CONNECT_ERROR,
        pycurl.E_SSL_CERTPROBLEM,
        pycurl.E_SSL_CIPHER,
        pycurl.E_SSL_CACERT_BADFILE,
        pycurl.E_PEER_FAILED_VERIFICATION,
    }
    if _handshake_finished(response):
        return Failure(
            ErrorKind.TLS_ERROR,
            f"the connection failed after the TLS handshake: {response.curl_message} "
            f"(curl error {code})",
            "the handshake itself succeeded; check the server's log for this call, "
            "and retry if the network is unstable",
        )
    if code in tls_codes:
        return Failure(
            ErrorKind.TLS_ERROR,
            f"TLS failed: {response.curl_message} (curl error {code})",
            "run 'mtls-runner doctor' on this job to see where the handshake fails",
        )
    return Failure(
        ErrorKind.CONNECTION_FAILED,
        f"{response.curl_message} (curl error {code})",
        "check that the server is reachable and speaks HTTPS on that port",
    )


def _handshake_finished(response: Response) -> bool:
    """Tell whether the TLS handshake completed, on a new or a reused connection."""
    return response.tls_version is not None or bool(response.timings_ms.get("tls"))
