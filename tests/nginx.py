"""A real nginx that requires client certificates, started by tests on 127.0.0.1.

nginx runs in the foreground with ``master_process off``, so it needs no user
switch when the tests run as root, and all of its files live in one folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 10

_CONFIG = """\
daemon off;
master_process {master_process};
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 4096; }}
http {{
    access_log {access_log};
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 100000;
{servers}
}}
"""

_SERVER = """\
    server {{
        listen 127.0.0.1:{port} ssl{http2};
        server_name localhost;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        ssl_protocols {protocols};
        {client_verification}
        default_type text/plain;
        location = /health {{ return 200 "UP\\n"; }}
        location = /whoami {{ return 200 "$ssl_client_s_dn\\n"; }}
        location = /verify {{ return 200 "$ssl_client_verify\\n"; }}
        location = /protocol {{ return 200 "$server_protocol\\n"; }}
        location = /session {{ return 200 "$ssl_session_reused\\n"; }}
        location /files/ {{ alias {prefix}/files/; }}
        location /status/ {{
            location = /status/404 {{ return 404 "not found\\n"; }}
            location = /status/500 {{ return 500 "failed\\n"; }}
            location = /status/503 {{ return 503 "unavailable\\n"; }}
        }}
        location / {{ return 200 "path $uri\\n"; }}
    }}
"""


@dataclass
class NginxServer:
    """One nginx process serving one or more TLS ports."""

    binary: str
    prefix: Path
    certificate: Path
    key: Path
    client_ca: Path | None
    verify_client: str = "on"
    protocols: str = "TLSv1.2 TLSv1.3"
    port_count: int = 1
    http2: bool = False
    workers: int = 1
    access_log: bool = False
    ports: list[int] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self.ports[0]

    def url(self, path: str = "/", index: int = 0, host: str = "localhost") -> str:
        return f"https://{host}:{self.ports[index]}/{path.lstrip('/')}"

    def write_file(self, name: str, data: bytes) -> None:
        """Publish a file under /files/NAME."""
        folder = self.prefix / "files"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)

    def start(self) -> NginxServer:
        self.prefix.mkdir(parents=True, exist_ok=True)
        if not self.ports:
            self.ports = [free_port() for _ in range(self.port_count)]
        config = self.prefix / "nginx.conf"
        config.write_text(self._config())
        error_log = self.prefix / "error.log"
        self.process = subprocess.Popen(
            [
                self.binary,
                "-p",
                str(self.prefix),
                "-c",
                str(config),
                "-e",
                str(error_log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(_listening(p) for p in self.ports):
            if self.process.poll() is not None:
                stderr = (
                    self.process.stderr.read().decode() if self.process.stderr else ""
                )
                log = error_log.read_text() if error_log.exists() else ""
                raise RuntimeError(f"nginx exited at start: {stderr}\n{log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("nginx did not start listening in time")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same ports, dropping every connection."""
        self.stop()
        self.start()

    def __enter__(self) -> NginxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _config(self) -> str:
        if self.client_ca is None:
            verification = "ssl_verify_client off;"
        else:
            verification = (
                f"ssl_client_certificate {self.client_ca}; "
                f"ssl_verify_client {self.verify_client}; ssl_verify_depth 4;"
            )
        servers = "".join(
            _SERVER.format(
                port=port,
                http2=" http2" if self.http2 else "",
                certificate=self.certificate,
                key=self.key,
                protocols=self.protocols,
                client_verification=verification,
                prefix=self.prefix,
            )
            for port in self.ports
        )
        return _CONFIG.format(
            master_process="on" if self.workers > 1 else "off",
            workers=self.workers,
            prefix=self.prefix,
            access_log=f"{self.prefix}/access.log" if self.access_log else "off",
            servers=servers,
        )


def find_nginx() -> str | None:
    """Return the nginx binary, looking in sbin folders that PATH often lacks."""
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in (
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
