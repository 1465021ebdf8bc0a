"""``mtls-runner demo``: a throwaway PKI, a local mTLS server and the demo jobs.

The PKI is built the way the classic keystore recipe builds it: an internal CA,
a client key converted to DER PKCS#8, a client certificate signed by the CA and a
server certificate for localhost and 127.0.0.1. Everything lives in a temporary
folder that is removed at the end. The jobs run in service mode, on their
schedules, for a bounded time.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path

from runner.demo.pki import CertificateAuthority
from runner.demo.server import MtlsServer
from runner.execution.service import Service
from runner.execution.signals import signals_handled
from runner.report.records import Record
from runner.report.sinks import ConsoleSink, Fanout, RecordSink
from runner.transport.capabilities import check_capabilities
from runner.transport.executor import Executor

DEMO_JOB_FILE = "demo.yaml"
PORT_VARIABLE = "MTLS_DEMO_PORT"
DEMO_DURATION_S = 15.0


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


class _Tally:
    """Count the records that met and missed their expectations."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self._lock = threading.Lock()

    def emit(self, record: Record) -> None:
        with self._lock:
            if record["ok"]:
                self.ok += 1
            else:
                self.failed += 1

    def close(self) -> None:
        pass


def run_demo(duration: float = DEMO_DURATION_S, quiet: bool = False) -> int:
    """Run the demo jobs on their schedules against a local server for ``duration``
    seconds; return 0 when every call went as expected."""
    check_capabilities()
    out = sys.stdout
    tally = _Tally()
    workdir = Path(tempfile.mkdtemp(prefix="mtls-runner-demo-"))
    try:
        job_file = workdir / DEMO_JOB_FILE
        job_file.write_text(demo_job_text(), encoding="utf-8")
        certificate, key, ca_pem = build_demo_pki(workdir / "pki")
        with MtlsServer(certificate, key, ca_pem) as server:
            out.write(
                f"Demo PKI in {workdir}/pki; mTLS server on 127.0.0.1:{server.port} "
                "requires client certificates from the demo CA.\n"
                f"Running the jobs of {DEMO_JOB_FILE} on their schedules for "
                f"{duration:g} seconds (Ctrl-C stops earlier):\n\n"
            )
            out.flush()
            environment = {**os.environ, PORT_VARIABLE: str(server.port)}
            sink = Fanout([ConsoleSink(out, quiet=quiet), tally])
            _serve([str(job_file)], environment, sink, duration)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ok = tally.failed == 0 and tally.ok > 0
    verdict = (
        f"all {tally.ok} calls went as expected"
        if ok
        else f"{tally.failed} of {tally.ok + tally.failed} calls did not go as expected"
    )
    out.write(f"\nDemo finished: {verdict}; the temporary PKI is removed.\n")
    return 0 if ok else 1


def _serve(
    paths: list[str], environment: dict[str, str], sink: RecordSink, duration: float
) -> None:
    executor = Executor()
    service = Service(paths, executor, sink, environ=environment)
    timer = threading.Timer(
        duration, service.request_stop, args=(f"the demo's {duration:g}s are over",)
    )
    timer.daemon = True
    try:
        service.load()
        timer.start()
        with signals_handled(service):
            service.run()
    finally:
        timer.cancel()
        executor.close()
