"""Shared fixtures: a test PKI made per session, TLS servers on 127.0.0.1, the CLI."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.demo.pki import CertificateAuthority, Issued
from runner.demo.server import MtlsServer
from tests.nginx import NginxServer, find_nginx

UTC = dt.UTC


@dataclass
class Pki:
    """Certificates for every positive and negative case, written under ``folder``."""

    folder: Path
    ca: CertificateAuthority
    intermediate: CertificateAuthority
    other_ca: CertificateAuthority
    server: Issued
    client: Issued
    client_rsa: Issued
    client_ed25519: Issued
    client_via_intermediate: Issued
    client_expired: Issued
    client_not_yet_valid: Issued
    client_server_only: Issued
    client_foreign: Issued
    server_untrusted: Issued
    server_wrong_name: Issued

    def path(self, name: str) -> Path:
        return self.folder / name

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path


def _build_pki(folder: Path) -> Pki:
    ca = CertificateAuthority.new_root("test root CA")
    intermediate = ca.issue_ca("test intermediate CA")
    other_ca = CertificateAuthority.new_root("foreign root CA")
    now = dt.datetime.now(UTC).replace(microsecond=0)
    servers = {"dns_names": ["localhost"], "ip_addresses": ["127.0.0.1"]}
    pki = Pki(
        folder=folder,
        ca=ca,
        intermediate=intermediate,
        other_ca=other_ca,
        server=ca.issue("localhost", server=True, **servers),  # type: ignore[arg-type]
        client=ca.issue("client-ec", client=True),
        client_rsa=ca.issue("client-rsa", client=True, key_type="rsa"),
        client_ed25519=ca.issue("client-ed25519", client=True, key_type="ed25519"),
        client_via_intermediate=intermediate.issue("client-intermediate", client=True),
        client_expired=ca.issue(
            "client-expired",
            client=True,
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=1),
        ),
        client_not_yet_valid=ca.issue(
            "client-future",
            client=True,
            not_before=now + dt.timedelta(days=10),
            not_after=now + dt.timedelta(days=40),
        ),
        client_server_only=ca.issue("client-server-eku", server=True),
        client_foreign=other_ca.issue("client-foreign", client=True),
        server_untrusted=other_ca.issue("localhost", server=True, **servers),  # type: ignore[arg-type]
        server_wrong_name=ca.issue(
            "elsewhere", server=True, dns_names=["elsewhere.test"]
        ),
    )
    pki.write("ca.pem", ca.certificate_pem())
    pki.write("other-ca.pem", other_ca.certificate_pem())
    pki.write("intermediate.pem", intermediate.certificate_pem())
    pki.write(
        "ca-and-intermediate.pem", ca.certificate_pem() + intermediate.certificate_pem()
    )
    for name in ("server", "server_untrusted", "server_wrong_name"):
        issued: Issued = getattr(pki, name)
        issued.write(folder, name.replace("_", "-"))
    for name in (
        "client",
        "client_rsa",
        "client_ed25519",
        "client_via_intermediate",
        "client_expired",
        "client_not_yet_valid",
        "client_server_only",
        "client_foreign",
    ):
        issued = getattr(pki, name)
        issued.write(folder, name.replace("_", "-"))
    return pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[Callable[..., MtlsServer]]:
    """Start in-process TLS servers on 127.0.0.1; all are stopped after the test."""
    started: list[MtlsServer] = []

    def start(
        server: str = "server",
        client_ca: bytes | None = None,
        **options: Any,
    ) -> MtlsServer:
        ca_pem = pki.ca.certificate_pem() if client_ca is None else client_ca
        instance = MtlsServer(
            pki.path(f"{server.replace('_', '-')}-cert.pem"),
            pki.path(f"{server.replace('_', '-')}-key.pem"),
            ca_pem,
            **options,
        ).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    binary = find_nginx()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing; .ci/run installs it with apt-get")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    return binary


@pytest.fixture
def nginx(
    nginx_binary: str, pki: Pki, tmp_path: Path
) -> Iterator[Callable[..., NginxServer]]:
    """Start real nginx servers that verify client certificates against the test CA."""
    started: list[NginxServer] = []

    def start(**options: Any) -> NginxServer:
        options.setdefault("certificate", pki.path("server-cert.pem"))
        options.setdefault("key", pki.path("server-key.pem"))
        options.setdefault("client_ca", pki.path("ca-and-intermediate.pem"))
        server = NginxServer(
            binary=nginx_binary, prefix=tmp_path / f"nginx{len(started)}", **options
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def records(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``main(argv)`` in-process and capture what it prints."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_job(tmp_path: Path) -> Callable[..., Path]:
    """Write a job file from indented YAML text; returns its path."""

    def write(text: str, name: str = "jobs.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write
