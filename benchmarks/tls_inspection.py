"""Measure what libcurl's verbose log and CURLOPT_CERTINFO cost per call.

The record's TLS version and cipher come from the verbose log (VERBOSE with a
Python DEBUGFUNCTION), and the server chain from CERTINFO. This script runs
sequential calls on one curl handle against a local nginx that requires client
certificates, on a reused connection and on a new connection per call, with each
option on and off, and prints the client CPU time per call (best of five runs).

Run ``python benchmarks/tls_inspection.py`` from the repository root.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pycurl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import write_pki  # noqa: E402
from runner.transport.request import Request, TlsSettings  # noqa: E402
from runner.transport.transfer import Transfer  # noqa: E402
from tests.nginx import NginxServer, find_nginx  # noqa: E402

VARIANTS = [
    ("verbose log and CERTINFO", True, True),
    ("verbose log only", True, False),
    ("CERTINFO only", False, True),
    ("neither", False, False),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    nginx = find_nginx()
    if nginx is None:
        print("this measurement needs nginx", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mtls-bench-") as folder:
        work = Path(folder)
        write_pki(work)
        server = NginxServer(
            binary=nginx,
            prefix=work / "nginx",
            certificate=work / "server-cert.pem",
            key=work / "server-key.pem",
            client_ca=work / "ca.pem",
        )
        tls = TlsSettings(
            ca_pem=(work / "ca.pem").read_bytes(),
            cert_pem=(work / "client-cert.pem").read_bytes(),
            key_pem=(work / "client-key.pem").read_bytes(),
        )
        with server:
            request = Request(url=server.url("/bench"), tls=tls)
            print("| connection | options | client CPU per call, µs |")
            print("|---|---|---:|")
            for fresh in (False, True):
                for name, verbose, certinfo in VARIANTS:
                    best = min(
                        cpu_per_call(request, args.calls, verbose, certinfo, fresh)
                        for _ in range(5)
                    )
                    connection = "new per call" if fresh else "reused"
                    print(f"| {connection} | {name} | {best * 1e6:.0f} |")
    return 0


def cpu_per_call(
    request: Request, calls: int, verbose: bool, certinfo: bool, fresh: bool
) -> float:
    """Return the client CPU seconds per call of ``calls`` sequential calls."""
    multi = pycurl.CurlMulti()
    handle = pycurl.Curl()
    run_call(multi, handle, request, verbose, certinfo, fresh)  # opens a connection
    started = time.process_time()
    for _ in range(calls):
        run_call(multi, handle, request, verbose, certinfo, fresh)
    elapsed = time.process_time() - started
    handle.close()
    multi.close()
    return elapsed / calls


def run_call(
    multi: pycurl.CurlMulti,
    handle: pycurl.Curl,
    request: Request,
    verbose: bool,
    certinfo: bool,
    fresh: bool,
) -> None:
    handle.reset()
    transfer = Transfer(handle, request, inspect_tls=False)
    if verbose:
        handle.setopt(pycurl.VERBOSE, 1)
        handle.setopt(pycurl.DEBUGFUNCTION, transfer._on_debug)
    handle.setopt(pycurl.OPT_CERTINFO, int(certinfo))
    handle.setopt(pycurl.FRESH_CONNECT, int(fresh))
    multi.add_handle(handle)
    while True:
        _, running = multi.perform()
        if not running:
            break
        multi.select(1.0)
    transfer.finish(0, "")
    multi.remove_handle(handle)
    if transfer.response.status != 200:
        raise RuntimeError(f"call failed: {transfer.response}")


if __name__ == "__main__":
    sys.exit(main())
