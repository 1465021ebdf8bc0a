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
# X509_V_ERR codes of OpenSSL's x509_vfy.h. Only an unknown issuer and a
# self-signed certificate are fixed by adding a CA to the truststore.
_UNTRUSTED_ISSUER = {2, 19, 20, 21}
_EXPIRED = 10
_NOT_YET_VALID = 9
_SELF_SIGNED = 18
_OPERATOR_FIXES = {
    frozenset({4, 6, 7}): (
        "the signature on a certificate of the server's chain does not verify "
        "with its issuer's key: the chain is damaged, or the truststore contains a "
        "different CA of the same name; ask the server's operator to check the "
        "chain against the CA in the truststore"
    ),
    frozenset({34}): (
        "a certificate of the server's chain has a critical extension that OpenSSL "
        "does not support, so no client may accept it; the server's operator must "
        "use a certificate without it"
    ),
    frozenset({26}): (
        "the server's certificate is not issued for TLS servers (its extended key "
        "usage lacks serverAuth); the server's operator must use a server "
        "certificate"
    ),
    frozenset({24, 25, 32}): (
        "a CA certificate in the server's chain may not sign certificates (basic "
        "constraints, key usage or path length); the server's operator must fix "
        "the chain"
    ),
    frozenset({23}): (
        "the server's certificate was revoked; its operator must replace it"
    ),
    frozenset({47, 48}): (
        "the server's certificate names a host that its CA's name constraints do "
        "not allow; the server's operator must get a certificate within them"
    ),
    frozenset({66, 67, 68}): (
        "the server's chain uses a key or signature hash that OpenSSL considers too "
        "weak; the server's operator must reissue it with a stronger one"
    ),
}


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
    if code in _UNTRUSTED_ISSUER or code == _SELF_SIGNED:
        verdict = f"is not trusted by {truststore}"
    else:
        verdict = f"failed verification against {truststore}"
    message = (
        f"the server's certificate {verdict}: OpenSSL reports '{reason}' "
        f"(X509_V_ERR {code}){_presented(chain)}"
    )
    hint = _untrusted_hint(code, reason, context, chain[-1] if chain else None)
    return Failure(ErrorKind.SERVER_CERTIFICATE_UNTRUSTED, message, hint)


def _untrusted_hint(
    code: int, reason: str, context: CallContext, top: ServerCertificate | None
) -> str:
    """Return the fix for an OpenSSL verify error; ``top`` is the chain's last."""
    for codes, fix in _OPERATOR_FIXES.items():
        if code in codes:
            return fix
    if code == _EXPIRED:
        return "the server's certificate expired; its operator must renew it"
    if code == _NOT_YET_VALID:
        return (
            "the server's certificate is not valid yet: check this machine's clock, "
            "or ask the operator about the certificate's start date"
        )
    if code == _SELF_SIGNED and top is not None:
        return (
            f"the server presents a self-signed certificate ({top.subject}); if you "
            f"trust it, {_add_to_truststore(context, 'it')}"
        )
    if code in _UNTRUSTED_ISSUER and top is not None:
        added = _add_to_truststore(context, f"the certificate of the CA {top.issuer}")
        return (
            f"{added}; if that CA is an intermediate, add its root, or have the "
            "server send the intermediate in its chain"
        )
    if code in _UNTRUSTED_ISSUER or code == _SELF_SIGNED:
        return _add_to_truststore(
            context, "the certificate of the CA that issued the server's certificate"
        )
    return (
        f"OpenSSL rejected the certificate for the reason '{reason}', which adding a "
        "CA does not fix; ask the server's operator to correct the certificate"
    )


def _add_to_truststore(context: CallContext, certificate: str) -> str:
    """Say how to trust ``certificate``: in the job's truststore, or in a new one.

    A job without a truststore uses the operating system's store, whose files
    belong to the system's package manager. So the fix is a truststore of the
    job's own, not an edit of those files.
    """
    if context.system_store:
        return (
            f"define a truststore under 'truststores' whose 'certificates' contain "
            f"{certificate}, and name it in the job with 'truststore: NAME' (the "
            "job has no truststore, so it uses the operating system's store)"
        )
    return f"add {certificate} to {_truststore(context)}"


def _truststore(context: CallContext) -> str:
    sources = ", ".join(context.truststore_sources)
    where = f" ({sources})" if sources else ""
    if context.system_store:
        return f"the operating system's store{where}"
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
