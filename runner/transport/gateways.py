"""Recognise gateways that finish the TLS handshake and refuse a call over HTTP.

Such a gateway accepts any client certificate (or none) during the handshake,
checks it afterwards and responds with an error page, so libcurl reports a
successful transfer. Each signature below was produced by the real server named
in it; a gateway is added only when its page has been seen here.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.transport.alerts import Effect


@dataclass(frozen=True)
class GatewaySignature:
    """An error page that means a client certificate was missing or refused."""

    gateway: str
    statuses: frozenset[int]
    body_text: bytes
    effect: Effect

    def describe(self, status: int) -> str:
        return (
            f"{self.gateway} answered HTTP {status} with the page "
            f"'{self.body_text.decode()}'"
        )


# nginx 1.22 with ssl_verify_client on (or optional): status 400 and these
# texts; 495 and 496 are its internal codes, visible when error_page maps them.
SIGNATURES = (
    GatewaySignature(
        "nginx",
        frozenset({400, 496}),
        b"No required SSL certificate was sent",
        Effect.REQUIRED,
    ),
    GatewaySignature(
        "nginx",
        frozenset({400, 495}),
        b"The SSL certificate error",
        Effect.REJECTED,
    ),
)


# TODO: add Apache httpd (mod_ssl responds with 403 when TLS 1.3 post-handshake
# authentication fails), HAProxy and Envoy once tests can start them here.


def match_gateway(status: int | None, body: bytes) -> GatewaySignature | None:
    """Return the signature that a response matches, if any."""
    if status is None:
        return None
    for signature in SIGNATURES:
        if status in signature.statuses and signature.body_text in body:
            return signature
    return None
