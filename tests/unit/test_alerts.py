"""Reading TLS alerts from OpenSSL's error text and libcurl's verbose lines."""

from __future__ import annotations

import pytest

from runner.transport.alerts import (
    ALERTS,
    Alert,
    Effect,
    alert_by_name,
    received_alert,
)


@pytest.mark.parametrize(
    ("message", "name"),
    [
        (
            "OpenSSL SSL_read: OpenSSL/3.6.5: error:0A00045C:SSL routines::tlsv13 "
            "alert certificate required, errno 0",
            "certificate_required",
        ),
        (
            "TLS connect error: error:0A000410:SSL routines::ssl/tls alert "
            "handshake failure",
            "handshake_failure",
        ),
        ("error:0A000418:SSL routines::tlsv1 alert unknown ca", "unknown_ca"),
        ("error:0A000412:SSL routines::sslv3 alert bad certificate", "bad_certificate"),
        ("error:0A000458:SSL routines::tlsv1 unrecognized name", "unrecognized_name"),
        (
            "error:0A00042E:SSL routines::tlsv1 alert protocol version",
            "protocol_version",
        ),
        ("error:0A000419:SSL routines::tlsv1 alert access denied", "access_denied"),
        ("error:0A00041A:SSL routines::tlsv1 alert decode error", "decode_error"),
        (
            "error:0A000414:SSL routines::ssl/tls alert certificate revoked",
            "certificate_revoked",
        ),
    ],
)
def test_alert_from_openssl_text(message: str, name: str) -> None:
    alert = received_alert(message, [])
    assert alert is not None
    assert alert.name == name


def test_alert_from_verbose_line_uses_code() -> None:
    line = "TLSv1.2 (IN), TLS alert, certificate expired (557):"
    alert = received_alert("SSL certificate verification failed", [line])
    assert alert is not None
    assert alert.name == "certificate_expired"


def test_outgoing_alert_is_ignored() -> None:
    line = "TLSv1.3 (OUT), TLS alert, unknown CA (560):"
    assert received_alert("SSL certificate problem", [line]) is None


def test_no_alert_in_plain_error() -> None:
    assert received_alert("Send failure: Connection reset by peer", []) is None


@pytest.mark.parametrize("alert", list(ALERTS.values()), ids=lambda a: a.name)
def test_every_alert_found_by_name(alert: Alert) -> None:
    assert alert_by_name(alert.name.replace("_", " ").upper()) is alert


def test_rejecting_alerts() -> None:
    rejecting = {a.name for a in ALERTS.values() if a.effect is Effect.REJECTED}
    assert rejecting == {
        "bad_certificate",
        "unsupported_certificate",
        "certificate_revoked",
        "certificate_expired",
        "certificate_unknown",
        "unknown_ca",
        "access_denied",
        "decrypt_error",
    }


def test_other_alerts_have_hints() -> None:
    missing = [
        a.name for a in ALERTS.values() if a.effect is Effect.OTHER and not a.hint
    ]
    assert missing == []
