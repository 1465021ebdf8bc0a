"""Gateway error pages that mean a missing or refused client certificate."""

from __future__ import annotations

from runner.transport.alerts import Effect
from runner.transport.gateways import match_gateway

NGINX_NO_CERTIFICATE = (
    b"<html>\r\n<head><title>400 No required SSL certificate was sent</title>"
    b"</head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
)
NGINX_BAD_CERTIFICATE = (
    b"<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n"
)


def test_nginx_missing_certificate() -> None:
    signature = match_gateway(400, NGINX_NO_CERTIFICATE)
    assert signature is not None
    assert signature.effect is Effect.REQUIRED


def test_nginx_bad_certificate() -> None:
    signature = match_gateway(400, NGINX_BAD_CERTIFICATE)
    assert signature is not None
    assert signature.effect is Effect.REJECTED


def test_page_text_with_other_status_is_ignored() -> None:
    assert match_gateway(200, NGINX_BAD_CERTIFICATE) is None


def test_plain_400_is_ignored() -> None:
    assert match_gateway(400, b"bad request") is None
