"""Classify failures of the server certificate check: untrusted CA, wrong name.

libcurl verifies the server's chain with OpenSSL and then the host name itself,
and reports both as error 60. Its verbose output has "OpenSSL verify result: N",
where 0 means the chain was accepted. A code 60 without a verify result or a host
name message therefore came from the server rejecting the client certificate.
"""

from __future__ import annotations

import re

import pycurl

from runner.errors import ErrorKind
from runner.transport.failure import CallContext, Failure
from runner.transport.refusals import certificate_rejected, misleading_code
from runner.transport.request import Response, ServerCertificate

_HOSTNAME_TEXTS = (
    "no alternative certificate subject name matches",
    "subject name does not match",
    "does not match target host name",
)
# "SSL certificate OpenSSL verify result: unable to get local issuer certificate (20)"
_VERIFY_RESULT = re.compile(r"verify result: (.+?) \((\d+)\)")
_UNTRUSTED_ISSUER = {2, 19, 20, 21}  # X509_V_ERR codes for an unknown issuer
_EXPIRED = 10
_NOT_YET_VALID = 9
_SELF_SIGNED = 18


def classify_verification(response: Response, context: CallContext) -> Failure | None:
    """Classify error 60 and OpenSSL verify results; None when neither applies."""
    message = response.curl_message
    if response.curl_code != pycurl.E_PEER_FAILED_VERIFICATION and (
        "verify result" not in message
    ):
        return None
    chain = response.server_certificates
    if any(text in message for text in _HOSTNAME_TEXTS):
        return Failure(
            ErrorKind.HOSTNAME_MISMATCH,
            f"the server's certificate is not valid for {context.host}"
            f"{_presented(chain)} (libcurl: '{message}')",
            f"call a host name the certificate names{_names_hint(chain)}, and map "
            "it to this address with 'resolve'; or have the server's operator add "
            f"{context.host} to the certificate",
        )
    result = _VERIFY_RESULT.search(message)
    if result is not None:
        return _untrusted(response, context, result.group(1), int(result.group(2)))
    if context.identity is not None:
        return certificate_rejected(
            context,
            "the server ended the handshake after receiving the client certificate",
            note=misleading_code(response),
        )
    return None


def _untrusted(
    response: Response, context: CallContext, reason: str, code: int
) -> Failure:
    chain = response.server_certificates
    truststore = _truststore(context)
    message = (
        f"the server's certificate is not trusted by {truststore}: OpenSSL says "
        f"'{reason}'{_presented(chain)}"
    )
    top = chain[-1] if chain else None
    if code == _EXPIRED:
        hint = "the server's certificate expired; its operator must renew it"
    elif code == _NOT_YET_VALID:
        hint = (
            "the server's certificate is not valid yet: check this machine's clock, "
            "or ask the operator about the certificate's start date"
        )
    elif code == _SELF_SIGNED and top is not None:
        hint = (
            f"the server presents a self-signed certificate ({top.subject}); if you "
            f"trust it, add it to {truststore}"
        )
    elif code in _UNTRUSTED_ISSUER and top is not None:
        hint = (
            f"add the certificate of the CA {top.issuer} to {truststore}; if that "
            "CA is an intermediate, add its root, or have the server send the "
            "intermediate in its chain"
        )
    else:
        hint = f"add the CA that issued the server's certificate to {truststore}"
    return Failure(ErrorKind.SERVER_CERTIFICATE_UNTRUSTED, message, hint)


def _truststore(context: CallContext) -> str:
    sources = ", ".join(context.truststore_sources)
    where = f" ({sources})" if sources else ""
    return f"truststore '{context.truststore}'{where}"


def _presented(chain: list[ServerCertificate]) -> str:
    if not chain:
        return ""
    leaf = chain[0]
    names = ", ".join([*leaf.dns_names, *leaf.ip_addresses]) or "no alternative names"
    return f"; the server presented {leaf.subject} for {names}, issued by {leaf.issuer}"


def _names_hint(chain: list[ServerCertificate]) -> str:
    if not chain or not chain[0].dns_names:
        return ""
    return f" ({', '.join(chain[0].dns_names)})"
