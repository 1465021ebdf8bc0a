"""Classify HTTP responses that were invalid or cut off after the TLS handshake.

libcurl reports them with codes that do not mention HTTP: a status line of
garbage is CURLE_UNSUPPORTED_PROTOCOL ("Received HTTP/0.9"), and a connection
closed in the middle of the body is a receive error, like a server that rejects
a client certificate under TLS 1.3. Such a response proves that the handshake
and the request got through, so the failure is unexpected_response, with
libcurl's text kept in the message.
"""

from __future__ import annotations

import pycurl

from runner.errors import ErrorKind
from runner.transport.curlcodes import curl_error_name
from runner.transport.failure import Failure
from runner.transport.request import Response

_CURLE_WEIRD_SERVER_REPLY = 8
_CURLE_HTTP2 = 16
_CURLE_HTTP2_STREAM = 92
_CURLE_TOO_LARGE = 100

# Codes that only the HTTP layer raises, with what each means for the response.
_INVALID = {
    pycurl.E_UNSUPPORTED_PROTOCOL: "the server sent data without an HTTP status line",
    _CURLE_WEIRD_SERVER_REPLY: "its status line or headers are malformed",
    _CURLE_TOO_LARGE: "its headers exceed libcurl's limits on size or number",
    _CURLE_HTTP2: "its HTTP/2 framing is broken",
    _CURLE_HTTP2_STREAM: "its HTTP/2 stream was reset or broken",
    pycurl.E_BAD_CONTENT_ENCODING: "its body does not match its Content-Encoding",
}
_CUT_OFF = {
    pycurl.E_PARTIAL_FILE: "the connection closed before the body that the server "
    "announced had arrived",
    pycurl.E_GOT_NOTHING: "the server closed the connection without sending any "
    "response",
}
_HINT = (
    "the TLS handshake succeeded and the request reached the server, but the server "
    "or a proxy in front of it sent a broken HTTP response: check the server's log "
    "for this call, or look at the raw response with 'curl -v'"
)


def classify_response(response: Response) -> Failure | None:
    """Classify an invalid or cut-off HTTP response; None for other failures."""
    code = response.curl_code
    if code in _INVALID:
        return _failure(response, "invalid", _INVALID[code])
    if code in _CUT_OFF:
        return _failure(response, "cut off", _CUT_OFF[code])
    if code in (pycurl.E_SEND_ERROR, pycurl.E_RECV_ERROR) and response.status:
        # A status arrived, so the failure is in the HTTP layer. libcurl's text
        # distinguishes a closed connection ("unexpected eof") from a bad body.
        closed = "eof" in response.curl_message.lower()
        return _failure(
            response, "cut off" if closed else "invalid", _failed_after(response.status)
        )
    return None


def _failed_after(status: int) -> str:
    if status < 200:
        return (
            f"the server sent only an interim {status} response, and the final "
            "response never came"
        )
    return f"the response failed after it began (status {status}), before its end"


def _failure(response: Response, state: str, detail: str) -> Failure:
    code = response.curl_code
    name = curl_error_name(code)
    text = response.curl_message
    reported = f"{name}: '{text}'" if text and text != name else name
    return Failure(
        ErrorKind.UNEXPECTED_RESPONSE,
        f"the server's HTTP response was {state}: {detail} (libcurl error {code} "
        f"{reported})",
        _HINT,
    )
