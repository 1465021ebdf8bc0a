"""Measure service mode: 1,000 jobs with 10,000 endpoints against a local nginx.

The script starts nginx with client certificate verification on 127.0.0.1 and
writes a test PKI and a job file into a temporary folder. It then runs
``python -m runner run --response-log FILE`` as a child process for
``--duration`` seconds and samples the child's RSS and CPU time with psutil every
0.25 s. Two scenarios set the jobs' schedules:

- ``burst``: cron ``* * * * *``, so all 1,000 jobs are due at each minute
  boundary, the worst case for start lateness.
- ``spread``: ``every 60s`` with ``jitter: 50s``, so starts spread over each
  minute.

Reported:
- RSS: the maximum resident set size of the service process.
- idle CPU: CPU time over wall time from IDLE_AFTER_S to 58 s after each minute
  boundary (burst only, since spread starts leave no idle window).
- lateness: p50, p99 and max of "started N ms late" in the service's log, which
  is the time a job was dispatched minus its due time (jitter included).
- calls: runs started times endpoints per job, against the records written;
  every scheduled call must have its record.

Run it from the repository root: ``.venv/bin/python benchmarks/service_bench.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from runner.demo.pki import CertificateAuthority  # noqa: E402
from runner.transport.executor import DEFAULT_CONCURRENCY, DEFAULT_PER_HOST  # noqa: E402
from tests.nginx import NginxServer, find_nginx  # noqa: E402

SAMPLE_INTERVAL_S = 0.25
# A burst of 10,000 calls finished within about 4 s of its minute boundary on the
# benchmark machine. Idle CPU is measured from this many seconds after each one.
IDLE_AFTER_S = 20
_LATE = re.compile(r"running job '[^']+': scheduled (\S+), started (-?[0-9.]+) ms late")
SCHEDULES = {
    # every job due at each minute boundary: the worst case for lateness
    "burst": "    schedule: '* * * * *'",
    # starts spread over 50 s of each minute
    "spread": "    schedule: every 60s\n    jitter: 50s",
}


@dataclass
class Sample:
    wall: float  # time.time()
    cpu: float  # user + system seconds of the service process
    rss: int  # bytes


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    records: list[dict[str, object]] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)


def write_pki(folder: Path) -> None:
    ca = CertificateAuthority.new_root("bench CA")
    (folder / "ca.pem").write_bytes(ca.certificate_pem())
    server = ca.issue("localhost", server=True, dns_names=["localhost"])
    server.write(folder, "server")
    client = ca.issue("bench-client", client=True)
    client.write(folder, "client")


def write_jobs(path: Path, port: int, jobs: int, endpoints: int, scenario: str) -> None:
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
            SCHEDULES[scenario],
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
    folder: Path, duration: float, concurrency: int, host_concurrency: int
) -> Result:
    """Run the service for ``duration`` seconds, sampling its CPU time and RSS."""
    log = folder / "records.jsonl"
    command = [
        sys.executable,
        "-m",
        "runner",
        "run",
        "--concurrency",
        str(concurrency),
        "--host-concurrency",
        str(host_concurrency),
        "--response-log",
        str(log),
        str(folder / "jobs.yaml"),
    ]
    stderr_path = folder / "service.err"
    result = Result()
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(command, cwd=REPOSITORY, stderr=stderr)
        watched = psutil.Process(process.pid)
        end = time.time() + duration
        try:
            while time.time() < end:
                times = watched.cpu_times()
                rss = watched.memory_info().rss
                result.samples.append(
                    Sample(time.time(), times.user + times.system, rss)
                )
                time.sleep(SAMPLE_INTERVAL_S)
        finally:
            process.terminate()
            process.wait(timeout=60)
    with log.open() as stream:
        result.records = [json.loads(line) for line in stream if line.strip()]
    result.log_lines = stderr_path.read_text().splitlines()
    return result


def analyse(result: Result, endpoints_per_job: int) -> dict[str, object]:
    """Summarise samples, log lines and records of one service run."""
    starts = [m for m in map(_LATE.search, result.log_lines) if m]
    lateness_ms = sorted(float(m.group(2)) for m in starts)
    # Runs scheduled in the first minute of the service include its warm-up.
    first_minute = min((_timestamp(m.group(1)) for m in starts), default=0) + 60
    later_ms = sorted(
        float(m.group(2)) for m in starts if _timestamp(m.group(1)) >= first_minute
    )
    boundaries = sorted(
        {int(_timestamp(str(r["time"])) // 60) * 60 for r in result.records}
    )
    return {
        "max_rss_mib": round(max(s.rss for s in result.samples) / 2**20, 1),
        "idle_cpu_percent": _idle_cpu(result.samples, boundaries),
        "job_runs": len(lateness_ms),
        "lateness_p50_ms": _percentile(lateness_ms, 50),
        "lateness_p99_ms": _percentile(lateness_ms, 99),
        "lateness_max_ms": lateness_ms[-1] if lateness_ms else None,
        "after_first_minute": {
            "job_runs": len(later_ms),
            "lateness_p50_ms": _percentile(later_ms, 50),
            "lateness_p99_ms": _percentile(later_ms, 99),
            "lateness_max_ms": later_ms[-1] if later_ms else None,
        },
        "calls_scheduled": len(lateness_ms) * endpoints_per_job,
        "calls_recorded": len(result.records),
        "calls_failed": sum(1 for r in result.records if not r["ok"]),
        "errors_logged": sum(1 for line in result.log_lines if ": ERROR: " in line),
    }


def _idle_cpu(samples: list[Sample], boundaries: list[int]) -> float | None:
    """Return CPU percent between IDLE_AFTER_S and 58 s after each minute boundary."""
    cpu = 0.0
    wall = 0.0
    for boundary in boundaries:
        window = [
            s for s in samples if boundary + IDLE_AFTER_S <= s.wall <= boundary + 58
        ]
        if len(window) < 2:
            continue
        cpu += window[-1].cpu - window[0].cpu
        wall += window[-1].wall - window[0].wall
    return round(100 * cpu / wall, 2) if wall else None


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    quantiles = statistics.quantiles(values, n=100, method="inclusive")
    return round(quantiles[percent - 1], 1)


def _timestamp(iso_time: str) -> float:
    return dt.datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--endpoints-per-job", type=int, default=10)
    parser.add_argument("--scenario", choices=sorted(SCHEDULES), default="burst")
    parser.add_argument("--duration", type=float, default=150, help="seconds")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--host-concurrency", type=int, default=DEFAULT_PER_HOST)
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
            jobs_file = folder / "jobs.yaml"
            write_jobs(
                jobs_file, nginx.port, args.jobs, args.endpoints_per_job, args.scenario
            )
            result = run_service(
                folder, args.duration, args.concurrency, args.host_concurrency
            )
        summary = analyse(result, args.endpoints_per_job)

    if args.scenario != "burst":
        summary["idle_cpu_percent"] = None  # no idle window: starts are spread
    python = platform.python_version()
    summary["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {python}"
    summary["command"] = " ".join(sys.argv)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
