"""Names of libcurl's error codes, for messages when libcurl leaves its text empty.

The names and numbers are those of libcurl's CURLcode enum in curl/curl.h, as the
libcurl-errors man page lists them. Only the codes that an HTTPS transfer can end
with are here, and messages show other codes by number.
"""

from __future__ import annotations

CURL_ERROR_NAMES = {
    1: "CURLE_UNSUPPORTED_PROTOCOL",
    3: "CURLE_URL_MALFORMAT",
    5: "CURLE_COULDNT_RESOLVE_PROXY",
    6: "CURLE_COULDNT_RESOLVE_HOST",
    7: "CURLE_COULDNT_CONNECT",
    8: "CURLE_WEIRD_SERVER_REPLY",
    16: "CURLE_HTTP2",
    18: "CURLE_PARTIAL_FILE",
    23: "CURLE_WRITE_ERROR",
    27: "CURLE_OUT_OF_MEMORY",
    28: "CURLE_OPERATION_TIMEDOUT",
    35: "CURLE_SSL_CONNECT_ERROR",
    42: "CURLE_ABORTED_BY_CALLBACK",
    43: "CURLE_BAD_FUNCTION_ARGUMENT",
    52: "CURLE_GOT_NOTHING",
    55: "CURLE_SEND_ERROR",
    56: "CURLE_RECV_ERROR",
    58: "CURLE_SSL_CERTPROBLEM",
    59: "CURLE_SSL_CIPHER",
    60: "CURLE_PEER_FAILED_VERIFICATION",
    61: "CURLE_BAD_CONTENT_ENCODING",
    63: "CURLE_FILESIZE_EXCEEDED",
    77: "CURLE_SSL_CACERT_BADFILE",
    80: "CURLE_SSL_SHUTDOWN_FAILED",
    83: "CURLE_SSL_ISSUER_ERROR",
    92: "CURLE_HTTP2_STREAM",
    98: "CURLE_SSL_CLIENTCERT",
    99: "CURLE_UNRECOVERABLE_POLL",
    100: "CURLE_TOO_LARGE",
}


def curl_error_name(code: int) -> str:
    """Return libcurl's name for an error code, such as CURLE_TOO_LARGE."""
    return CURL_ERROR_NAMES.get(code, f"libcurl error {code}")
