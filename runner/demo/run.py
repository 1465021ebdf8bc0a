"""``mtls-runner demo``: a throwaway PKI, a local mTLS server and the demo jobs.

The PKI is built the way the classic keystore recipe builds it: an internal CA,
a client key converted to DER PKCS#8, a client certificate signed by the CA and a
server certificate for localhost and 127.0.0.1. Everything lives in a temporary
folder that is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from runner.config.loader import load_config
from runner.demo.pki import CertificateAuthority
from runner.demo.server import MtlsServer
from runner.execution.once import run_once
from runner.execution.plan import KeyMaterial, plan_calls
from runner.report.sinks import ConsoleSink
from runner.transport.capabilities import check_capabilities
from runner.transport.executor import Executor

DEMO_JOB_FILE = "demo.yaml"
PORT_VARIABLE = "MTLS_DEMO_PORT"


def build_demo_pki(folder: Path) -> tuple[Path, Path, bytes]:
    """Write the demo PKI into ``folder``; return the server's files and the CA PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority.new_root("mtls-runner demo CA", key_type="rsa")
    (folder / "ca-cert.pem").write_bytes(ca.certificate_pem())
    client = ca.issue("demo-client", client=True, key_type="rsa")
    (folder / "client-cert.pem").write_bytes(client.certificate_pem())
    client_key = folder / "client-key.der"
    client_key.write_bytes(client.key_der())
    client_key.chmod(0o600)
    server = ca.issue(
        "localhost",
        server=True,
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
    )
    server_certificate, server_key = server.write(folder, "server")
    return server_certificate, server_key, ca.certificate_pem()


def demo_job_text() -> str:
    return resources.files("runner.demo").joinpath(DEMO_JOB_FILE).read_text("utf-8")


def run_demo(quiet: bool = False) -> int:
    """Run the demo jobs once against a local server; return the exit code."""
    check_capabilities()
    out = sys.stdout
    workdir = Path(tempfile.mkdtemp(prefix="mtls-runner-demo-"))
    try:
        job_file = workdir / DEMO_JOB_FILE
        job_file.write_text(demo_job_text(), encoding="utf-8")
        certificate, key, ca_pem = build_demo_pki(workdir / "pki")
        with MtlsServer(certificate, key, ca_pem) as server:
            out.write(
                f"Demo PKI in {workdir}/pki; mTLS server on 127.0.0.1:{server.port} "
                "requires client certificates from the demo CA.\n"
                f"Running the jobs of {DEMO_JOB_FILE} once:\n\n"
            )
            out.flush()
            environment = {**os.environ, PORT_VARIABLE: str(server.port)}
            config = load_config([str(job_file)])
            calls = plan_calls(
                config, list(config.jobs), KeyMaterial(config), environment
            )
            executor = Executor()
            try:
                ok = run_once(calls, executor, ConsoleSink(out, quiet=quiet))
            finally:
                executor.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    verdict = (
        "every call went as expected" if ok else "some calls did not go as expected"
    )
    out.write(f"\nDemo finished: {verdict}; the temporary PKI is removed.\n")
    return 0 if ok else 1
