"""An HTTPS server on 127.0.0.1 that requests client certificates.

The demo runs its jobs against it, and the tests use it for TLS alert cases under
TLS 1.2 and 1.3. Each connection is served in its own thread, so a client that
never finishes its handshake delays no other client.

Routes: ``/health`` (200 "UP"), ``/whoami`` (the client certificate's subject as
JSON), ``/status/CODE``, ``/bytes/COUNT``, ``/chunked/COUNT`` (COUNT bytes without
a Content-Length), ``/delay/MILLISECONDS``, ``/echo``
(method, path, headers and body as JSON) and ``POST /orders`` (201 with the body).
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

HANDSHAKE_TIMEOUT_S = 10
LINGER_TIMEOUT_S = 1


@dataclass
class ServerStats:
    """Connection counters and client subjects seen by the server, for tests."""

    connections: int = 0
    handshake_failures: list[str] = field(default_factory=list)
    client_subjects: list[str | None] = field(default_factory=list)
    open_connections: int = 0
    max_open_connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TlsServer

    def setup(self) -> None:
        raw: socket.socket = self.request
        raw.settimeout(HANDSHAKE_TIMEOUT_S)
        stats = self.server.stats
        with stats.lock:
            stats.connections += 1
        connection = self.server.context.wrap_socket(
            raw, server_side=True, do_handshake_on_connect=False
        )
        try:
            connection.do_handshake()
        except (ssl.SSLError, OSError) as e:
            with stats.lock:
                stats.handshake_failures.append(str(e))
            _linger(connection)
            connection.close()
            raise
        self.request = connection
        with stats.lock:
            stats.open_connections += 1
            stats.max_open_connections = max(
                stats.max_open_connections, stats.open_connections
            )
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.stats.lock:
                self.server.stats.open_connections -= 1

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the demo prints records, not access logs

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches on)
        self._route()

    def do_POST(self) -> None:  # noqa: N802
        self._route()

    def do_PUT(self) -> None:  # noqa: N802
        self._route()

    def do_DELETE(self) -> None:  # noqa: N802
        self._route()

    def do_HEAD(self) -> None:  # noqa: N802
        self._route()

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        subject = self._client_subject()
        with self.server.stats.lock:
            self.server.stats.client_subjects.append(subject)
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        route, argument = parts[0], (parts[1] if len(parts) > 1 else "")
        if route == "health":
            self._send(200, b"UP\n", "text/plain")
        elif route == "whoami":
            self._send_json(200, {"subject": subject})
        elif route == "status" and argument.isdigit():
            self._send_json(int(argument), {"status": int(argument)})
        elif route == "bytes" and argument.isdigit():
            self._send_bytes(int(argument))
        elif route == "chunked" and argument.isdigit():
            self._send_chunked(int(argument))
        elif route == "delay" and argument.isdigit():
            time.sleep(int(argument) / 1000)
            self._send(200, b"UP\n", "text/plain")
        elif route == "echo":
            self._send_json(
                200,
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body.decode("utf-8", "replace"),
                    "subject": subject,
                },
            )
        elif route == "orders" and self.command == "POST":
            self._send(201, body or b"{}", "application/json")
        else:
            self._send_json(404, {"error": "no such route"})

    def _client_subject(self) -> str | None:
        assert isinstance(self.request, ssl.SSLSocket)
        der = self.request.getpeercert(binary_form=True)
        if not der:
            return None
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode() + b"\n", "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_bytes(self, count: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(count))
        self.end_headers()
        block = b"x" * 65536
        remaining = count
        while remaining > 0:
            chunk = block[: min(remaining, len(block))]
            self.wfile.write(chunk)
            remaining -= len(chunk)

    def _send_chunked(self, count: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        remaining = count
        while remaining > 0:
            size = min(remaining, 65536)
            self.wfile.write(b"%x\r\n" % size + b"x" * size + b"\r\n")
            remaining -= size
        self.wfile.write(b"0\r\n\r\n")


def _linger(connection: ssl.SSLSocket) -> None:
    """Drain the client's bytes before closing, as nginx's lingering close does.

    Closing a socket with unread data makes the kernel send a reset, which can
    overtake the TLS alert just sent. The client would then see "connection reset"
    instead of the alert that names the problem.
    """
    try:
        # After shutdown() the SSLSocket reads the raw TCP stream.
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(LINGER_TIMEOUT_S)
        while connection.recv(4096):
            pass
    except OSError:
        pass


class _TlsServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, context: ssl.SSLContext, stats: ServerStats) -> None:
        self.context = context
        self.stats = stats
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed handshakes are counted in stats, not printed


class MtlsServer:
    """A threaded HTTPS server on 127.0.0.1 with client certificate checking."""

    def __init__(
        self,
        certificate: Path,
        key: Path,
        client_ca_pem: bytes | None,
        *,
        client_certificate: Literal["required", "optional", "none"] = "required",
        tls_version: Literal["1.2", "1.3"] | None = None,
    ) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        if client_ca_pem is not None:
            context.load_verify_locations(cadata=client_ca_pem.decode())
        context.verify_mode = {
            "required": ssl.CERT_REQUIRED,
            "optional": ssl.CERT_OPTIONAL,
            "none": ssl.CERT_NONE,
        }[client_certificate]
        if tls_version == "1.2":
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
        elif tls_version == "1.3":
            context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.set_alpn_protocols(["http/1.1"])
        self.stats = ServerStats()
        self._server = _TlsServer(context, self.stats)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/", host: str = "localhost") -> str:
        return f"https://{host}:{self.port}/{path.lstrip('/')}"

    def start(self) -> MtlsServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="mtls-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MtlsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
