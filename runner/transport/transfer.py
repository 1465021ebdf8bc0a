"""Configure one curl handle for a Request and collect its Response.

Key material reaches libcurl only through the *_BLOB options. The default CA file
and CA path compiled into libcurl are unset, so the blob is the only trust anchor:
a pycurl wheel built for RHEL, for example, would otherwise also trust
/etc/pki/tls/certs/ca-bundle.crt. Peer and host verification are always on.

A transfer that inspects TLS opens a new connection and turns on libcurl's verbose
log, where the negotiated version, cipher and received alerts appear. The executor
turns that on only when no idle connection is known to be usable, because the log
costs Python callbacks on every call. CURLOPT_CERTINFO is always on: libcurl
collects the server's chain only during a handshake, so it costs nothing on a
reused connection.

Memory per call is bounded, because the body callback keeps ``body_limit`` bytes
and counts the rest. ``max_response_bytes`` stops a call through
CURLOPT_MAXFILESIZE_LARGE, which libcurl applies to Content-Length and, since
8.4.0, while the body arrives. The body callback enforces it for older libcurl.
"""

from __future__ import annotations

import datetime as dt
import re

import pycurl

from runner import __version__
from runner.transport.connections import MAX_IDLE_S, TlsFacts
from runner.transport.curlcodes import curl_error_name
from runner.transport.request import Request, Response, ServerCertificate

USER_AGENT = f"mtls-runner/{__version__}"
_HTTP_VERSIONS = {
    "1.1": pycurl.CURL_HTTP_VERSION_1_1,
    "2": pycurl.CURL_HTTP_VERSION_2TLS,
}
_NEGOTIATED_HTTP = {1: "1.0", 2: "1.1", 3: "2", 30: "3"}
# libcurl's verbose line after a handshake, for example
# "SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384 / X25519 / RSASSA-PSS"
_SSL_CONNECTION = re.compile(r"SSL connection using (\S+) / (\S+)")
_NAME_SEPARATOR = re.compile(r"(?<!\\), ")
_TLS_DEBUG_WORDS = ("SSL", "TLS", "alert", "certificate", "ALPN")
MAX_TLS_DEBUG_LINES = 40
_TIMINGS = (
    ("dns", pycurl.NAMELOOKUP_TIME_T),
    ("connect", pycurl.CONNECT_TIME_T),
    ("tls", pycurl.APPCONNECT_TIME_T),
    ("first_byte", pycurl.STARTTRANSFER_TIME_T),
    ("total", pycurl.TOTAL_TIME_T),
)


class Transfer:
    """One request on one curl handle: options in, Response out."""

    def __init__(
        self, handle: pycurl.Curl, request: Request, inspect_tls: bool = True
    ) -> None:
        self.handle = handle
        self.request = request
        self.inspect_tls = inspect_tls
        self.response = Response()
        # The connection's socket once finished, or -1 when libcurl closed it.
        self.socket = -1
        self._body = bytearray()
        self._header_lines: list[bytes] = []
        self._tail = b""
        self._found: set[bytes] = set()
        self._overlap = max((len(n) for n in request.body_needles), default=1) - 1
        self._facts_taken = False
        self._configure()

    def _configure(self) -> None:
        handle = self.handle
        request = self.request
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTPS)
        handle.setopt(pycurl.FOLLOWLOCATION, 0)
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.USERAGENT, USER_AGENT)
        self._configure_tls()
        handle.setopt(pycurl.TIMEOUT_MS, max(1, round(request.timeout * 1000)))
        if request.connect_timeout is not None:
            connect_ms = max(1, round(request.connect_timeout * 1000))
            handle.setopt(pycurl.CONNECTTIMEOUT_MS, connect_ms)
        if request.resolve:
            handle.setopt(pycurl.RESOLVE, list(request.resolve))
        self._configure_connection()
        self._configure_method()
        # An empty "Expect:" stops libcurl from waiting for "100 Continue".
        headers = [header_line(name, value) for name, value in request.headers]
        handle.setopt(pycurl.HTTPHEADER, [*headers, b"Expect:"])
        handle.setopt(pycurl.WRITEFUNCTION, self._on_body)
        # A builtin method as callback costs no Python frame per header line.
        handle.setopt(pycurl.HEADERFUNCTION, self._header_lines.append)
        if request.max_response_bytes is not None:
            handle.setopt(pycurl.MAXFILESIZE_LARGE, request.max_response_bytes)
        handle.setopt(pycurl.OPT_CERTINFO, 1)
        if self.inspect_tls:
            handle.setopt(pycurl.VERBOSE, 1)
            handle.setopt(pycurl.DEBUGFUNCTION, self._on_debug)

    def _configure_connection(self) -> None:
        handle = self.handle
        version = self.request.http_version
        if version is not None:
            handle.setopt(pycurl.HTTP_VERSION, _HTTP_VERSIONS[version])
        handle.setopt(pycurl.MAXAGE_CONN, MAX_IDLE_S)
        if self.inspect_tls:
            # A new connection, so that the handshake shows in the verbose log and
            # no idle connection that another call expects to reuse is taken.
            handle.setopt(pycurl.FRESH_CONNECT, 1)

    def _configure_tls(self) -> None:
        handle = self.handle
        tls = self.request.tls
        handle.setopt(pycurl.SSL_VERIFYPEER, 1)
        handle.setopt(pycurl.SSL_VERIFYHOST, 2)
        handle.unsetopt(pycurl.CAINFO)
        handle.unsetopt(pycurl.CAPATH)
        handle.setopt(pycurl.CAINFO_BLOB, tls.ca_pem)
        if tls.cert_pem is not None and tls.key_pem is not None:
            handle.setopt(pycurl.SSLCERTTYPE, "PEM")
            handle.setopt(pycurl.SSLCERT_BLOB, tls.cert_pem)
            handle.setopt(pycurl.SSLKEYTYPE, "PEM")
            handle.setopt(pycurl.SSLKEY_BLOB, tls.key_pem)

    def _configure_method(self) -> None:
        handle = self.handle
        request = self.request
        if request.method == "HEAD":
            handle.setopt(pycurl.NOBODY, 1)
        elif request.method != "GET" or request.body is not None:
            handle.setopt(pycurl.CUSTOMREQUEST, request.method)
        if request.body is not None:
            handle.setopt(pycurl.POSTFIELDSIZE_LARGE, len(request.body))
            handle.setopt(pycurl.COPYPOSTFIELDS, request.body)

    def _on_body(self, chunk: bytes) -> int | None:
        response = self.response
        response.body_bytes += len(chunk)
        limit = self.request.max_response_bytes
        if limit is not None and response.body_bytes > limit:
            response.too_large = True
            return 0  # any count other than len(chunk) makes libcurl abort
        room = self.request.body_limit - len(self._body)
        if room > 0:
            self._body += chunk[:room]
        if self.request.body_needles:
            self._search(chunk)
        return None

    def _search(self, chunk: bytes) -> None:
        """Find needles across chunk borders while keeping only a short tail."""
        window = self._tail + chunk
        for needle in self.request.body_needles:
            if needle not in self._found and needle in window:
                self._found.add(needle)
        self._tail = window[-self._overlap :] if self._overlap else b""

    def _on_debug(self, kind: int, data: bytes) -> None:
        if kind != pycurl.INFOTYPE_TEXT:
            return
        text = data.decode("utf-8", "replace").strip()
        match = _SSL_CONNECTION.search(text)
        if match:
            self.response.tls_version, self.response.tls_cipher = match.groups()
        if (
            any(word in text for word in _TLS_DEBUG_WORDS)
            and len(self.response.tls_debug) < MAX_TLS_DEBUG_LINES
        ):
            self.response.tls_debug.append(text)

    def take_handshake_facts(self) -> TlsFacts | None:
        """Return this call's handshake facts once, as soon as the handshake is done.

        Calls multiplexed on a new HTTP/2 connection can finish before the call
        that made its handshake, so the executor collects the facts early.
        """
        response = self.response
        if self._facts_taken or response.tls_version is None:
            return None
        self._facts_taken = True
        return TlsFacts(
            response.tls_version,
            response.tls_cipher,
            tuple(_server_certificates(self.handle)),
        )

    def finish(self, curl_code: int, message: str) -> Response:
        """Fill in what libcurl measured; call before the handle leaves the multi.

        libcurl reports the connection's socket only while the handle is in the
        multi handle that owns the connection.
        """
        response = self.response
        handle = self.handle
        response.curl_code = curl_code
        # libcurl leaves the text empty for some errors (8.23 does for
        # CURLE_TOO_LARGE after a 5 MB header), so messages name the code.
        response.curl_message = message or (
            curl_error_name(curl_code) if curl_code else ""
        )
        if curl_code == pycurl.E_FILESIZE_EXCEEDED:
            response.too_large = True
        response.body = bytes(self._body)
        response.found_needles = frozenset(self._found)
        response.headers = _parse_headers(self._header_lines)
        status = handle.getinfo(pycurl.RESPONSE_CODE)
        response.status = status or None
        response.timings_ms = {
            name: round(handle.getinfo(info) / 1000, 3) for name, info in _TIMINGS
        }
        response.http_version = _NEGOTIATED_HTTP.get(
            handle.getinfo(pycurl.INFO_HTTP_VERSION)
        )
        ip = handle.getinfo(pycurl.PRIMARY_IP)
        if ip:
            response.remote = f"{ip}:{handle.getinfo(pycurl.PRIMARY_PORT)}"
        connection_id = handle.getinfo(pycurl.CONN_ID)
        response.connection_id = connection_id if connection_id >= 0 else None
        response.reused_connection = (
            response.connection_id is not None
            and handle.getinfo(pycurl.NUM_CONNECTS) == 0
        )
        self.socket = handle.getinfo(pycurl.ACTIVESOCKET)
        response.server_certificates = _server_certificates(handle)
        return response


def header_line(name: str, value: str) -> bytes:
    """Return the CURLOPT_HTTPHEADER entry that sends one header as written.

    libcurl drops "Name:" with an empty value, so an empty (or blank) value is
    written "Name;", which libcurl sends as the header with an empty value. Values
    are ISO-8859-1, as the job file checks enforce.
    """
    if not value.strip(" \t"):
        return f"{name};".encode("latin-1")
    return f"{name}: {value}".encode("latin-1")


def _parse_headers(lines: list[bytes]) -> list[tuple[str, str]]:
    """Return the header fields of the last response, as (name, value) pairs."""
    headers: list[tuple[str, str]] = []
    for line in lines:
        text = _decode_header(line).rstrip("\r\n")
        if text.startswith("HTTP/"):
            # A new status line: an interim (1xx) or proxy response came first.
            headers = []
            continue
        name, separator, value = text.partition(":")
        if separator and name.strip():
            headers.append((name.strip(), value.strip()))
    return headers


def _decode_header(line: bytes) -> str:
    """Decode a header line as UTF-8 when it is valid UTF-8, else as Latin-1.

    HTTP historically allowed Latin-1 (ISO-8859-1) in header values (RFC 9110,
    section 5.5), but servers often send UTF-8 now, which Latin-1 shows as "Ã¼".
    """
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("iso-8859-1")


def _server_certificates(handle: pycurl.Curl) -> list[ServerCertificate]:
    try:
        chain = handle.getinfo(pycurl.INFO_CERTINFO)
    except pycurl.error:
        return []
    certificates = []
    for fields in chain or []:
        values = dict(fields)
        # OpenSSL prints the names as "DNS:localhost, IP Address:127.0.0.1".
        san = [
            part.strip()
            for part in values.get("X509v3 Subject Alternative Name", "").split(",")
        ]
        dns_names = tuple(p[4:] for p in san if p.startswith("DNS:"))
        ip_addresses = tuple(p[11:] for p in san if p.startswith("IP Address:"))
        certificates.append(
            ServerCertificate(
                subject=_rfc4514_like(values.get("Subject", "")),
                issuer=_rfc4514_like(values.get("Issuer", "")),
                not_after=_openssl_time(values.get("Expire date")),
                dns_names=dns_names,
                ip_addresses=ip_addresses,
            )
        )
    return certificates


def _rfc4514_like(name: str) -> str:
    """Turn OpenSSL's "C = DE, O = x, CN = a" into RFC 4514's "CN=a,O=x,C=DE".

    RFC 4514 lists the most specific name first, as cryptography prints subjects,
    so the two kinds of subject in a record compare equal.
    """
    parts = [part.strip().replace(" = ", "=") for part in _NAME_SEPARATOR.split(name)]
    return ",".join(reversed(parts))


def _openssl_time(text: str | None) -> str | None:
    """Convert OpenSSL's "Dec  4 15:43:07 2027 GMT" to ISO 8601."""
    if not text:
        return None
    try:
        moment = dt.datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y %Z")
    except ValueError:
        return text
    return moment.replace(tzinfo=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
