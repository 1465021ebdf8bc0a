"""A TLS server on 127.0.0.1 that responds to every request with raw bytes.

It completes the TLS handshake (asking for a client certificate from the test
CA), reads the request head and sends whatever the test gives, however broken,
then closes the connection. Each connection has a short socket timeout, so a
test never waits long on it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

SOCKET_TIMEOUT_S = 5
Answer = bytes | Callable[[bytes], bytes]


class HostileServer:
    """Serve raw responses over TLS until ``stop``; ``url`` names its address."""

    def __init__(
        self,
        certificate: Path,
        key: Path,
        client_ca_pem: bytes | None,
        answer: Answer,
        *,
        linger_s: float = 0.2,
        close_notify: bool = False,
    ) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate, key)
        if client_ca_pem is not None:
            self.context.load_verify_locations(cadata=client_ca_pem.decode())
            self.context.verify_mode = ssl.CERT_OPTIONAL
        self.answer = answer
        self.linger_s = linger_s
        # Send a TLS close_notify after the response, as a clean shutdown does.
        # Without it the connection ends as after a crash.
        self.close_notify = close_notify
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url(self, path: str = "/", host: str = "localhost") -> str:
        return f"https://{host}:{self.port}/{path.lstrip('/')}"

    def start(self) -> HostileServer:
        self._accepting.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._accepting.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=SOCKET_TIMEOUT_S + 1)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(SOCKET_TIMEOUT_S)
        try:
            with self.context.wrap_socket(raw, server_side=True) as connection:
                request = _read_head(connection)
                self.requests.append(request)
                answer = self.answer
                connection.sendall(answer(request) if callable(answer) else answer)
                if self.close_notify:
                    connection.unwrap()
                self._stop.wait(self.linger_s)
        except OSError:
            pass  # the client gave up or the handshake failed: nothing to serve
        finally:
            raw.close()


def _read_head(connection: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
