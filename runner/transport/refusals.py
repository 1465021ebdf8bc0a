"""Failures in which the server refused the client certificate, or wanted one.

The message joins three sources: what the server sent (an alert, an error page,
a closed connection), what the runner finds offline about its own identity, and
a note when libcurl's error code points elsewhere. Offline facts decide the hint,
because they name the file to fix.
"""

from __future__ import annotations

import pycurl

from runner.errors import ErrorKind
from runner.tls.checks import IdentityFinding, Problem, certificate_file
from runner.transport.alerts import Alert
from runner.transport.failure import CallContext, Failure
from runner.transport.request import Response

_ALERT_FIXES = {
    "unknown_ca": (
        "get a client certificate issued by a CA the server trusts, or ask the "
        "server's operator to trust the identity's CA; 'mtls-runner doctor' lists "
        "the CA names the server sends"
    ),
    "certificate_expired": (
        "renew the client certificate; if it is still valid, a CA certificate in "
        "its chain may have expired, or the server's clock is wrong"
    ),
    "certificate_revoked": "ask the CA for a new client certificate",
    "unsupported_certificate": (
        "get a client certificate whose extended key usage includes clientAuth, "
        "with an RSA or EC key"
    ),
    "access_denied": (
        "the certificate is valid but not allowed; ask the server's operator to "
        "grant access to its subject"
    ),
    "decrypt_error": (
        "the server could not verify the handshake signature; check that the key "
        "and certificate belong together and that the server accepts their "
        "signature algorithm"
    ),
}
_DEFAULT_FIX = (
    "ask the server's operator what its log says about this certificate; "
    "'mtls-runner doctor' shows the CAs the server accepts"
)


def misleading_code(response: Response) -> str:
    """Explain a libcurl error code that points away from the client certificate."""
    code = response.curl_code
    reported = f"libcurl reported error {code} '{response.curl_message}'"
    if code == pycurl.E_PEER_FAILED_VERIFICATION:
        return (
            f"{reported}, which reads as if the server's certificate had failed, "
            "but the refusal came from the server"
        )
    if code in (pycurl.E_SEND_ERROR, pycurl.E_RECV_ERROR):
        return (
            f"{reported}, a network error, because under TLS 1.3 the server checks the "
            "client certificate after the handshake and then closes the connection"
        )
    if code == pycurl.E_SSL_CONNECT_ERROR:
        return f"{reported}, a generic handshake error"
    if code == 0 and response.status is not None:
        return (
            "libcurl reported no error, because the gateway checks the certificate "
            "after the handshake and answers with an error page"
        )
    return ""


def certificate_required(
    context: CallContext, evidence: str, note: str = ""
) -> Failure:
    """Build the failure for a server that wanted a client certificate."""
    tail = f" ({note})" if note else ""
    if context.identity is None:
        return Failure(
            ErrorKind.CLIENT_CERTIFICATE_REQUIRED,
            f"the server requires a client certificate and none was sent: "
            f"{evidence}{tail}",
            "add 'identity: NAME' to the job, naming an identity with a client "
            "certificate this server accepts",
        )
    return Failure(
        ErrorKind.CLIENT_CERTIFICATE_REQUIRED,
        f"the server says no client certificate arrived, although identity "
        f"'{context.identity.name}' was configured: {evidence}{tail}",
        "the server may have asked only for certificates from CAs other than the "
        "identity's; run 'mtls-runner doctor' to see which CAs it names",
    )


def certificate_rejected(
    context: CallContext,
    evidence: str,
    *,
    alert: Alert | None = None,
    note: str = "",
) -> Failure:
    """Build the failure for a server that refused the client certificate.

    Without an identity nothing could be refused, so the server must have wanted
    a certificate: that becomes client_certificate_required.
    """
    identity = context.identity
    if identity is None:
        return certificate_required(context, evidence, note)
    findings = context.identity_findings()
    certain = [f for f in findings if f.certain]
    subject = identity.leaf.subject.rfc4514_string()
    parts = [
        f"the server rejected the client certificate {subject} of identity "
        f"'{identity.name}': {evidence}"
    ]
    unknown = _unknown_issuer(findings, alert)
    if certain:
        parts.append(f"mtls-runner's own check finds that {certain[0].message}")
    elif unknown is not None:
        parts.append(unknown.message)
    elif alert is not None and alert.name == "certificate_expired":
        parts.append(
            f"mtls-runner finds the certificate valid until "
            f"{identity.leaf.not_valid_after_utc:%Y-%m-%d}, so a CA certificate in "
            "its chain may have expired, or the server's clock is wrong"
        )
    if note:
        parts.append(note)
    return Failure(
        ErrorKind.CLIENT_CERTIFICATE_REJECTED,
        "; ".join(parts),
        _rejection_fix(context, findings, alert),
    )


def _rejection_fix(
    context: CallContext, findings: list[IdentityFinding], alert: Alert | None
) -> str:
    certain = [f for f in findings if f.certain]
    if certain:
        return certain[0].fix
    fix = _ALERT_FIXES.get(alert.name, _DEFAULT_FIX) if alert else _DEFAULT_FIX
    unknown = _unknown_issuer(findings, alert)
    if unknown is not None:
        return f"{unknown.fix}; otherwise {fix}"
    if context.identity is not None and alert is not None:
        return f"{fix} (the certificate is in {certificate_file(context.identity)})"
    return fix


def _unknown_issuer(
    findings: list[IdentityFinding], alert: Alert | None
) -> IdentityFinding | None:
    """Return the possibly incomplete chain when it may explain the refusal."""
    if alert is not None and alert.name != "unknown_ca":
        return None
    return next((f for f in findings if f.problem is Problem.INCOMPLETE_CHAIN), None)
