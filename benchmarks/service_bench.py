"""Measure service mode: 1,000 jobs with 10,000 endpoints against a local nginx.

Every job has the cron schedule ``* * * * *``, so all 1,000 jobs are due at each
minute boundary: the worst case for start lateness. The script starts nginx with
client certificate verification on 127.0.0.1, writes the job file and a test PKI
into a temporary folder, runs ``python -m runner run -q --response-log FILE`` as
a child process for ``--ticks`` minute boundaries, and samples the child's RSS and
CPU time with psutil every 0.25 s.

Reported:
- RSS: the maximum resident set size of the service process.
- idle CPU: CPU time over wall time between ticks, from one second after the last
  call of a tick finished until one second before the next minute boundary.
- lateness: for each job run, the record time of its first call minus the minute
  boundary it was scheduled for (records carry their start to the millisecond).
- records: calls recorded per tick, which must equal the number of endpoints.

Run it from the repository root: ``.venv/bin/python benchmarks/service_bench.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from runner.demo.pki import CertificateAuthority  # noqa: E402
from tests.nginx import NginxServer, find_nginx  # noqa: E402

SAMPLE_INTERVAL_S = 0.25


@dataclass
class Sample:
    wall: float  # time.time()
    cpu: float  # user + system seconds of the service process
    rss: int  # bytes


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    records: list[dict[str, object]] = field(default_factory=list)


def write_pki(folder: Path) -> None:
    ca = CertificateAuthority.new_root("bench CA")
    (folder / "ca.pem").write_bytes(ca.certificate_pem())
    server = ca.issue("localhost", server=True, dns_names=["localhost"])
    server.write(folder, "server")
    client = ca.issue("bench-client", client=True)
    client.write(folder, "client")


def write_jobs(path: Path, port: int, jobs: int, endpoints: int) -> None:
    lines = [
        "version: 1",
        "identities:",
        "  bench: {certificate: pki/client-cert.pem, key: pki/client-key.pem}",
        "truststores:",
        "  bench-ca: {certificates: [pki/ca.pem]}",
        "jobs:",
    ]
    for job in range(jobs):
        lines += [
            f"  job-{job:04d}:",
            "    identity: bench",
            "    truststore: bench-ca",
            "    schedule: '* * * * *'",
            "    timeout: 20s",
            "    resolve: {localhost: 127.0.0.1}",
            "    endpoints:",
        ]
        lines += [
            f"      - url: https://localhost:{port}/job/{job}/endpoint/{n}"
            for n in range(endpoints)
        ]
    path.write_text("\n".join(lines) + "\n")


def run_service(
    folder: Path, ticks: int, concurrency: int
) -> tuple[Result, list[float]]:
    """Run the service until ``ticks`` minute boundaries passed; return samples."""
    log = folder / "records.jsonl"
    command = [
        sys.executable,
        "-m",
        "runner",
        "run",
        "-q",
        "--concurrency",
        str(concurrency),
        "--response-log",
        str(log),
        str(folder / "jobs.yaml"),
    ]
    stderr = (folder / "service.err").open("w")
    process = subprocess.Popen(command, cwd=REPOSITORY, stderr=stderr)
    watched = psutil.Process(process.pid)
    now = time.time()
    first_boundary = (int(now // 60) + 1) * 60
    boundaries = [first_boundary + 60 * i for i in range(ticks)]
    end = boundaries[-1] + 55
    result = Result()
    try:
        while time.time() < end:
            times = watched.cpu_times()
            result.samples.append(
                Sample(
                    time.time(), times.user + times.system, watched.memory_info().rss
                )
            )
            time.sleep(SAMPLE_INTERVAL_S)
    finally:
        process.terminate()
        process.wait(timeout=60)
        stderr.close()
    with log.open() as stream:
        result.records = [json.loads(line) for line in stream if line.strip()]
    return result, [float(b) for b in boundaries]


def analyse(
    result: Result, boundaries: list[float], endpoints: int
) -> dict[str, object]:
    per_tick: dict[float, list[dict[str, object]]] = defaultdict(list)
    first_call: dict[tuple[float, str], float] = {}
    for record in result.records:
        started = _timestamp(str(record["time"]))
        boundary = max((b for b in boundaries if b <= started + 0.5), default=None)
        if boundary is None:
            continue
        per_tick[boundary].append(record)
        key = (boundary, str(record["job"]))
        first_call[key] = min(first_call.get(key, started), started)
    lateness_ms = sorted((t - b) * 1000 for (b, _), t in first_call.items())
    idle = _idle_cpu(result.samples, boundaries, per_tick)
    ends = {
        b: max(_timestamp(str(r["time"])) + float(r["duration_ms"]) / 1000 for r in rs)
        - b
        for b, rs in per_tick.items()
    }
    failed = sum(1 for r in result.records if not r["ok"])
    return {
        "max_rss_mib": max(s.rss for s in result.samples) / 2**20,
        "idle_cpu_percent": idle,
        "lateness_p50_ms": _percentile(lateness_ms, 50),
        "lateness_p99_ms": _percentile(lateness_ms, 99),
        "lateness_max_ms": lateness_ms[-1] if lateness_ms else None,
        "records_per_tick": {str(int(b)): len(rs) for b, rs in per_tick.items()},
        "expected_per_tick": endpoints,
        "failed_records": failed,
        "tick_duration_s": {str(int(b)): round(e, 2) for b, e in ends.items()},
    }


def _idle_cpu(
    samples: list[Sample],
    boundaries: list[float],
    per_tick: dict[float, list[dict[str, object]]],
) -> float | None:
    cpu = 0.0
    wall = 0.0
    for boundary in boundaries:
        records = per_tick.get(boundary)
        if not records:
            continue
        last_end = max(
            _timestamp(str(r["time"])) + float(r["duration_ms"]) / 1000 for r in records
        )
        window = [s for s in samples if last_end + 1 <= s.wall <= boundary + 59]
        if len(window) < 2:
            continue
        cpu += window[-1].cpu - window[0].cpu
        wall += window[-1].wall - window[0].wall
    return 100 * cpu / wall if wall else None


def _percentile(values: list[float], percent: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(percent) - 1]


def _timestamp(iso_time: str) -> float:
    return dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--endpoints-per-job", type=int, default=10)
    parser.add_argument("--ticks", type=int, default=2, help="minute boundaries")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    binary = find_nginx()
    if binary is None:
        print("nginx is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mtls-runner-service-bench-") as name:
        folder = Path(name)
        (folder / "pki").mkdir()
        write_pki(folder / "pki")
        nginx = NginxServer(
            binary=binary,
            prefix=folder / "nginx",
            certificate=folder / "pki" / "server-cert.pem",
            key=folder / "pki" / "server-key.pem",
            client_ca=folder / "pki" / "ca.pem",
        )
        with nginx:
            write_jobs(
                folder / "jobs.yaml", nginx.port, args.jobs, args.endpoints_per_job
            )
            result, boundaries = run_service(folder, args.ticks, args.concurrency)
        endpoints = args.jobs * args.endpoints_per_job
        summary = analyse(result, boundaries, endpoints)
    python = platform.python_version()
    summary["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {python}"
    summary["command"] = " ".join(sys.argv)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
