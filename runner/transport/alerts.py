"""TLS alerts a server can send, what each means for a mutual-TLS call, and how
to read them from libcurl's error text and verbose lines.

Alert codes and names follow RFC 8446 section 6 (and RFC 5246 for the TLS 1.2
ones). OpenSSL 3 words them in its error text as "ssl/tls alert bad certificate",
"tlsv1 alert unknown ca" or "tlsv13 alert certificate required". libcurl's
verbose output prints "TLSv1.2 (IN), TLS alert, unknown CA (560)", where 560 is
512 plus the alert code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Effect(Enum):
    """Meaning of a server's alert for the client certificate."""

    REQUIRED = "required"  # the server wants a certificate and got none
    REJECTED = "rejected"  # the server got a certificate and refused it
    HANDSHAKE = "handshake"  # no shared parameters; or a refusal without a reason
    OTHER = "other"  # a TLS problem that has nothing to do with the certificate


@dataclass(frozen=True)
class Alert:
    """One TLS alert description."""

    code: int
    name: str  # as RFC 8446 spells it
    meaning: str
    effect: Effect
    hint: str = ""


_VERSION_HINT = (
    "the server accepts no TLS version that this OpenSSL offers (TLS 1.2 and 1.3); "
    "'mtls-runner doctor' lists the versions it accepts, and its operator can "
    "enable TLS 1.2 or 1.3"
)
_PEER_BUG_HINT = (
    "the server or a middlebox broke the handshake; retry, and if it persists send "
    "the server's operator the time of the call"
)

ALERTS: dict[int, Alert] = {
    alert.code: alert
    for alert in (
        Alert(0, "close_notify", "the server closed the TLS session", Effect.OTHER,
              "the server ended the connection early; check its logs"),
        Alert(10, "unexpected_message", "a handshake message arrived out of order",
              Effect.OTHER, _PEER_BUG_HINT),
        Alert(20, "bad_record_mac", "a record failed its integrity check",
              Effect.OTHER, _PEER_BUG_HINT),
        Alert(22, "record_overflow", "a record was too long", Effect.OTHER,
              _PEER_BUG_HINT),
        Alert(40, "handshake_failure",
              "client and server could not agree on the handshake", Effect.HANDSHAKE,
              "compare the TLS versions, ciphers and signature algorithms the "
              "server accepts ('mtls-runner doctor' lists the versions) with "
              "OpenSSL's"),
        Alert(41, "no_certificate", "no client certificate was sent",
              Effect.REQUIRED),
        Alert(42, "bad_certificate", "the client certificate is invalid",
              Effect.REJECTED),
        Alert(43, "unsupported_certificate",
              "the client certificate has a type or usage the server does not "
              "accept", Effect.REJECTED),
        Alert(44, "certificate_revoked",
              "the client certificate was revoked by its CA", Effect.REJECTED),
        Alert(45, "certificate_expired",
              "the client certificate (or a CA certificate in its chain) is "
              "expired or not yet valid", Effect.REJECTED),
        Alert(46, "certificate_unknown",
              "the server could not accept the client certificate", Effect.REJECTED),
        Alert(47, "illegal_parameter", "a handshake field had an invalid value",
              Effect.OTHER, _PEER_BUG_HINT),
        Alert(48, "unknown_ca",
              "the server does not know the CA that issued the client certificate",
              Effect.REJECTED),
        Alert(49, "access_denied",
              "the server verified the client certificate but its policy denies "
              "access", Effect.REJECTED),
        Alert(50, "decode_error", "the server could not parse a handshake message",
              Effect.OTHER,
              "the server may not support the key type of the client certificate "
              "or a TLS extension; try an RSA or EC P-256 identity"),
        Alert(51, "decrypt_error",
              "a handshake signature did not verify (often the client's "
              "CertificateVerify)", Effect.REJECTED),
        Alert(70, "protocol_version", "client and server share no TLS version",
              Effect.OTHER, _VERSION_HINT),
        Alert(71, "insufficient_security",
              "the server requires stronger ciphers than were offered", Effect.OTHER,
              "ask the server's operator which ciphers it requires"),
        Alert(80, "internal_error", "the server failed internally", Effect.OTHER,
              "the fault is on the server; send its operator the time of the call"),
        Alert(86, "inappropriate_fallback", "a downgraded retry was refused",
              Effect.OTHER, _PEER_BUG_HINT),
        Alert(90, "user_canceled", "the server cancelled the handshake",
              Effect.OTHER, "check the server's logs for the reason"),
        Alert(109, "missing_extension", "a required TLS extension was missing",
              Effect.OTHER, _PEER_BUG_HINT),
        Alert(110, "unsupported_extension", "a TLS extension was not expected",
              Effect.OTHER, _PEER_BUG_HINT),
        Alert(112, "unrecognized_name",
              "the server serves no site for the host name sent in SNI",
              Effect.OTHER,
              "call the host name the server serves; with 'resolve' the URL's host "
              "is still sent as the server name"),
        Alert(115, "unknown_psk_identity", "a pre-shared key was unknown",
              Effect.OTHER, _PEER_BUG_HINT),
        Alert(116, "certificate_required",
              "the server requires a client certificate and got none",
              Effect.REQUIRED),
        Alert(120, "no_application_protocol",
              "the server speaks none of the offered HTTP versions (ALPN)",
              Effect.OTHER,
              "set 'http_version' for this job to the version the server speaks"),
    )
}  # fmt: skip

# OpenSSL prefixes the alert name with the protocol that defined it:
# "ssl/tls alert", "sslv3 alert", "tlsv1 alert", "tlsv13 alert", and
# "tlsv1 unrecognized name" without the word alert.
_OPENSSL_ALERT = re.compile(
    r"(?:ssl/tls|sslv3|tlsv1|tlsv13)(?: alert)? ([a-z][a-z ]*[a-z])", re.IGNORECASE
)
_INCOMING_ALERT = re.compile(r"\(IN\), TLS alert, ([^(]+?) \((\d+)\)", re.IGNORECASE)
_BY_NAME = {alert.name: alert for alert in ALERTS.values()}


def alert_by_name(text: str) -> Alert | None:
    """Find an alert by its name in any spelling: "unknown CA", "unknown_ca"."""
    key = "_".join(text.strip().lower().replace("_", " ").split())
    return _BY_NAME.get(key)


def received_alert(curl_message: str, tls_debug: list[str]) -> Alert | None:
    """Return the alert the server sent, from libcurl's verbose lines or its error."""
    for line in tls_debug:
        match = _INCOMING_ALERT.search(line)
        if match is None:
            continue
        number = int(match.group(2))
        if number >= 512 and number - 512 in ALERTS:
            return ALERTS[number - 512]
        found = alert_by_name(match.group(1))
        if found is not None:
            return found
    for match in _OPENSSL_ALERT.finditer(curl_message):
        found = alert_by_name(match.group(1).split(",")[0])
        if found is not None:
            return found
    return None
