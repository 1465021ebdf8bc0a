"""Name the cause of a failed call: an error kind, a message and a fix.

libcurl's codes mislead in mutual TLS. Under TLS 1.3 a server's refusal of a
missing client certificate arrives after the handshake, as a read or send error
(curl 55 or 56). Under TLS 1.2 it is a generic handshake failure (35). A client
certificate rejected under TLS 1.2 can surface as code 60, which reads as if the
server's certificate had failed. The rules below therefore look first at
alerts received from the server (OpenSSL reports them as "... alert NAME"), then at
what the runner knows itself (whether it sent a certificate, whether the handshake
finished), and only then at the curl code. Unknown combinations become tls_error or
connection_failed with libcurl's text kept in the message.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pycurl

from runner.errors import ErrorKind
from runner.tls.identity import LoadedIdentity
from runner.transport.request import Response

# Alerts as OpenSSL names them in "SSL routines::tlsv1 alert unknown ca" and in
# libcurl's verbose "TLSv1.2 (IN), TLS alert, unknown CA (560):".
_ALERT_TEXT = re.compile(
    r"alert[ ,]+([a-z][a-z0-9 _]*?)(?: \(\d+\)|,|$)", re.IGNORECASE
)
_INCOMING_ALERT = re.compile(r"\(IN\), TLS alert, ([^(]+?) \((\d+)\)", re.IGNORECASE)
# TLS alert descriptions (RFC 8446, section 6), as OpenSSL spells them in errors.
_ALERT_NAMES = {
    10: "unexpected message",
    20: "bad record mac",
    40: "handshake failure",
    42: "bad certificate",
    43: "unsupported certificate",
    44: "certificate revoked",
    45: "certificate expired",
    46: "certificate unknown",
    47: "illegal parameter",
    48: "unknown ca",
    49: "access denied",
    50: "decode error",
    51: "decrypt error",
    70: "protocol version",
    71: "insufficient security",
    80: "internal error",
    86: "inappropriate fallback",
    90: "user canceled",
    109: "missing extension",
    110: "unsupported extension",
    112: "unrecognized name",
    116: "certificate required",
    120: "no application protocol",
}
_REJECTING_ALERTS = {
    "bad certificate",
    "unsupported certificate",
    "certificate revoked",
    "certificate expired",
    "certificate unknown",
    "unknown ca",
    "access denied",
    "decrypt error",
}
_HOSTNAME_TEXTS = (
    "no alternative certificate subject name matches",
    "subject name does not match",
    "does not match target host name",
)
_NGINX_NO_CERTIFICATE = b"No required SSL certificate was sent"
_NGINX_BAD_CERTIFICATE = b"The SSL certificate error"


@dataclass(frozen=True)
class Failure:
    """A classified failure, as the ``error`` field of a response record."""

    kind: ErrorKind
    message: str
    hint: str

    def record(self) -> dict[str, str]:
        return {"kind": str(self.kind), "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class CallContext:
    """Facts the runner has about a call, used to overrule libcurl's code."""

    url: str
    host: str
    identity: LoadedIdentity | None
    truststore: str
    timeout: float
    connect_timeout: float | None = None


def classify(response: Response, context: CallContext) -> Failure | None:
    """Return the failure of a transfer, or None when it brought a usable response."""
    if response.too_large:
        return Failure(
            ErrorKind.UNEXPECTED_RESPONSE,
            f"response body exceeded max_response_bytes after {response.body_bytes} "
            "bytes, so the call was stopped",
            "raise max_response_bytes for this job, or ask the API for less data",
        )
    if response.completed:
        return _classify_http(response, context)
    return (
        _classify_timeout(response, context)
        or _classify_connection(response, context)
        or _classify_alert(response, context)
        or _classify_verification(response, context)
        or _classify_closed(response, context)
        or _fallback(response)
    )


def _classify_http(response: Response, context: CallContext) -> Failure | None:
    """Recognise gateways that finish the handshake and refuse over HTTP."""
    if response.status in (400, 496) and _NGINX_NO_CERTIFICATE in response.body:
        return _certificate_required(
            context,
            "the server answered HTTP 400: 'No required SSL certificate was sent'",
        )
    if response.status in (400, 495) and _NGINX_BAD_CERTIFICATE in response.body:
        return _certificate_rejected(
            context, "the server answered HTTP 400: 'The SSL certificate error'"
        )
    return None


def _classify_timeout(response: Response, context: CallContext) -> Failure | None:
    if response.curl_code != pycurl.E_OPERATION_TIMEDOUT:
        return None
    timings = response.timings_ms
    if not timings.get("connect"):
        phase = f"no TCP connection to {context.host} was established"
        hint = "check that the server is up and that no firewall drops the packets"
    elif not timings.get("tls"):
        phase = (
            "the TLS handshake did not finish: the server accepted TCP but never "
            "answered it"
        )
        hint = (
            "check that the port speaks TLS, and that no proxy or load balancer "
            "stalls it"
        )
    else:
        phase = "the server did not send a complete response in time"
        hint = "raise 'timeout' for this job if the API is slow, or check the server"
    limit = context.timeout
    return Failure(
        ErrorKind.TIMEOUT,
        f"timed out after {limit:g}s: {phase} ({response.curl_message})",
        hint,
    )


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
            f"cannot connect to {context.host} ({response.curl_message})",
            "check that the server runs and listens on that address and port, and "
            "the 'resolve' mapping if the job has one",
        )
    return None


def _classify_alert(response: Response, context: CallContext) -> Failure | None:
    alert = received_alert(response)
    if alert is None:
        return None
    said = f"the server sent the TLS alert '{alert}'"
    if alert == "certificate required":
        return _certificate_required(context, said)
    if alert in _REJECTING_ALERTS and context.identity is not None:
        return _certificate_rejected(context, said)
    if alert == "handshake failure" and context.identity is None:
        return _certificate_required(
            context,
            f"{said} during a handshake in which no client certificate was sent",
        )
    if alert == "protocol version":
        return Failure(
            ErrorKind.TLS_ERROR,
            f"{said}: client and server share no TLS version",
            "the server may accept only old TLS versions that OpenSSL disables; ask "
            "its operator for TLS 1.2 or 1.3",
        )
    return Failure(
        ErrorKind.TLS_ERROR,
        f"{said} ({response.curl_message})",
        "compare the TLS versions and ciphers the server accepts with OpenSSL's",
    )


def received_alert(response: Response) -> str | None:
    """Return the name of the TLS alert the server sent, in lower case, if any.

    OpenSSL's error text names received alerts. libcurl's verbose line gives the
    alert number (plus 512), and a name only for the alerts in its own table.
    """
    message = response.curl_message
    if "alert" in message:
        match = _ALERT_TEXT.search(message.split("::")[-1])
        if match:
            return match.group(1).strip().lower()
    for line in response.tls_debug:
        match = _INCOMING_ALERT.search(line)
        if match:
            name, number = match.group(1).strip().lower(), int(match.group(2))
            return _ALERT_NAMES.get(number & 0xFF, name)
    return None


def _classify_verification(response: Response, context: CallContext) -> Failure | None:
    message = response.curl_message
    code = response.curl_code
    if code != pycurl.E_PEER_FAILED_VERIFICATION and "verify result" not in message:
        return None
    presented = _presented(response)
    if any(text in message for text in _HOSTNAME_TEXTS):
        return Failure(
            ErrorKind.HOSTNAME_MISMATCH,
            f"the server's certificate is not valid for {context.host}{presented} "
            f"({message})",
            "call the host name the certificate names, and use 'resolve' to reach "
            "it at another address",
        )
    return Failure(
        ErrorKind.SERVER_CERTIFICATE_UNTRUSTED,
        f"the server's certificate is not trusted by truststore "
        f"'{context.truststore}'{presented} ({message})",
        f"add the CA that issued the server's certificate to truststore "
        f"'{context.truststore}'",
    )


def _classify_closed(response: Response, context: CallContext) -> Failure | None:
    """Classify a connection closed right after the handshake, before any response."""
    if response.curl_code not in (pycurl.E_SEND_ERROR, pycurl.E_RECV_ERROR):
        return None
    if response.status is not None or response.tls_version is None:
        return None
    if context.identity is None:
        return _certificate_required(
            context,
            "the server closed the connection right after the TLS handshake, in "
            "which no client certificate was sent",
        )
    return Failure(
        ErrorKind.TLS_ERROR,
        "the server closed the connection right after the TLS handshake "
        f"({response.curl_message}); it may have rejected the client certificate",
        "ask the server's operator which client CAs it accepts, and check that "
        f"identity '{context.identity.name}' was issued by one of them",
    )


def _fallback(response: Response) -> Failure:
    code = response.curl_code
    tls_codes = {
        pycurl.E_SSL_CONNECT_ERROR,
        pycurl.E_SSL_CERTPROBLEM,
        pycurl.E_SSL_CIPHER,
        pycurl.E_SSL_CACERT_BADFILE,
    }
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


def _certificate_required(context: CallContext, said: str) -> Failure:
    if context.identity is None:
        return Failure(
            ErrorKind.CLIENT_CERTIFICATE_REQUIRED,
            f"the server requires a client certificate and none was sent: {said}",
            "add 'identity: NAME' to the job, naming an identity with the client "
            "certificate this server accepts",
        )
    return Failure(
        ErrorKind.CLIENT_CERTIFICATE_REQUIRED,
        f"the server says no client certificate arrived, although identity "
        f"'{context.identity.name}' was offered: {said}",
        "the server may not accept certificates from the identity's CA and so did "
        "not ask for it; run 'mtls-runner doctor' to see which CAs it names",
    )


def _certificate_rejected(context: CallContext, said: str) -> Failure:
    identity = context.identity
    subject = identity.leaf.subject.rfc4514_string() if identity else "none"
    detail = ""
    if identity is not None:
        now = dt.datetime.now(dt.UTC)
        if identity.leaf.not_valid_after_utc < now:
            expired = identity.leaf.not_valid_after_utc
            detail = f"; the certificate expired on {expired:%Y-%m-%d}"
        elif identity.leaf.not_valid_before_utc > now:
            detail = (
                "; the certificate is not valid before "
                f"{identity.leaf.not_valid_before_utc:%Y-%m-%d}"
            )
    name = identity.name if identity else "?"
    return Failure(
        ErrorKind.CLIENT_CERTIFICATE_REJECTED,
        f"the server rejected client certificate {subject} of identity '{name}': "
        f"{said}{detail}",
        "renew the certificate if it expired, or get one issued by a CA the server "
        "trusts; 'mtls-runner doctor' lists the CAs it names",
    )


def _presented(response: Response) -> str:
    if not response.server_certificates:
        return ""
    leaf = response.server_certificates[0]
    names = ", ".join(leaf.dns_names) or "no DNS names"
    return f"; it presented {leaf.subject} issued by {leaf.issuer} ({names})"
