"""Compare mtls-runner's throughput with curl's CLI and a requests script.

Starts a local nginx that requires client certificates (on 127.0.0.1 only), then
makes N calls (default 1,000) in three scenarios, each with every tool in a fresh
process, and prints a table:

  (a) one host: distinct paths on one host and port
  (b) ten hosts: the same calls spread over ten ports
  (c) new connections: one host, and "Connection: close" on every call, so each
      call makes a new TCP connection and TLS handshake

Tools: ``curl --parallel --parallel-max 16``; mtls-runner with its defaults
(16 calls at once, 6 per host) and with 16 per host; requests with a pool of 16
threads. Every tool uses the same certificate, key and CA.

Run ``make bench`` or ``python benchmarks/throughput.py`` from the repository root
(needs nginx, curl and ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import print_table, print_targets  # noqa: E402
from runner.demo.pki import CertificateAuthority  # noqa: E402
from tests.nginx import NginxServer, find_nginx  # noqa: E402

PORTS = 10
PARALLEL = 16


@dataclass
class Scenario:
    key: str
    title: str
    urls: list[str]
    close: bool  # send "Connection: close" so every call opens a connection


@dataclass
class Measurement:
    scenario: str
    tool: str
    tick_wall_s: float  # the calls alone; the whole process for curl
    process_wall_s: float
    tick_cpu_s: float  # the calls alone; the whole process for curl
    cpu_s: float  # user + system of the whole process
    peak_rss_mb: float
    ok: int


def main() -> int:
    args = parse_args()
    curl = shutil.which("curl")
    nginx = find_nginx()
    if curl is None or nginx is None:
        print("benchmark needs curl and nginx on PATH or in /usr/sbin", file=sys.stderr)
        return 2
    try:
        import requests  # noqa: F401
    except ImportError:
        print("benchmark needs requests: pip install -e '.[bench]'", file=sys.stderr)
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
            port_count=PORTS,
            workers=args.nginx_workers,
        )
        with server:
            results = run_all(args, work, server, curl)
    print_machine(curl, nginx)
    print_table(results)
    print_targets(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per scenario")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per tool; the table has medians"
    )
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument(
        "--scenario", action="append", choices=["a", "b", "c"], help="default: all"
    )
    parser.add_argument("--json", metavar="FILE", help="also write results as JSON")
    parser.add_argument(
        "--profile",
        metavar="FOLDER",
        help="write a cProfile of each mtls-runner run into FOLDER",
    )
    return parser.parse_args()


def write_pki(work: Path) -> None:
    ca = CertificateAuthority.new_root("benchmark CA")
    server = ca.issue(
        "localhost", server=True, dns_names=["localhost"], ip_addresses=["127.0.0.1"]
    )
    server.write(work, "server")
    ca.issue("benchmark client", client=True).write(work, "client")
    (work / "ca.pem").write_bytes(ca.certificate_pem())


def scenarios(
    server: NginxServer, calls: int, chosen: list[str] | None
) -> list[Scenario]:
    one_host = [server.url(f"/bench/{i}") for i in range(calls)]
    spread = [server.url(f"/bench/{i}", index=i % PORTS) for i in range(calls)]
    every = [
        Scenario("a", "(a) one host", one_host, close=False),
        Scenario("b", f"(b) {PORTS} hosts", spread, close=False),
        Scenario("c", "(c) new connections", one_host, close=True),
    ]
    return [s for s in every if not chosen or s.key in chosen]


def run_all(
    args: argparse.Namespace, work: Path, server: NginxServer, curl: str
) -> list[Measurement]:
    runs: dict[tuple[str, str], list[Measurement]] = {}
    for repeat in range(args.repeat):
        for scenario in scenarios(server, args.calls, args.scenario):
            for tool, command in commands(args, work, scenario, curl, repeat):
                measurement = measure(scenario, tool, command, work)
                runs.setdefault((scenario.title, tool), []).append(measurement)
                print(
                    f"  {scenario.title} {tool}: {measurement.tick_wall_s:.3f} s",
                    file=sys.stderr,
                )
    return [median(group) for group in runs.values()]


def commands(
    args: argparse.Namespace, work: Path, scenario: Scenario, curl: str, repeat: int
) -> list[tuple[str, list[str]]]:
    job_file = write_job_file(work, scenario)
    url_file = work / f"urls-{scenario.key}.txt"
    url_file.write_text("".join(f"{url}\n" for url in scenario.urls))
    curl_config = work / f"curl-{scenario.key}.cfg"
    curl_config.write_text(
        "".join(f'url = "{url}"\noutput = "/dev/null"\n' for url in scenario.urls)
    )
    close = ["-H", "Connection: close"] if scenario.close else []
    tls = [
        "--cert", str(work / "client-cert.pem"),
        "--key", str(work / "client-key.pem"),
        "--cacert", str(work / "ca.pem"),
    ]  # fmt: skip
    runner = [sys.executable, str(ROOT / "benchmarks/clients/runner_calls.py")]
    profile: list[str] = []
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        name = f"runner-{scenario.key}-{repeat}.prof"
        profile = ["--profile", str(Path(args.profile) / name)]
    return [
        (
            "curl --parallel-max 16",
            [curl, "--parallel", "--parallel-max", str(PARALLEL), "-sS"]
            + ["--no-progress-meter"]
            + ["-w", "%{http_code}\\n", *tls, *close, "-K", str(curl_config)],
        ),
        ("mtls-runner", [*runner, str(job_file), *profile]),
        (
            "mtls-runner, 16 per host",
            [*runner, str(job_file), "--host-concurrency", str(PARALLEL)],
        ),
        (
            "requests, 16 threads",
            [sys.executable, str(ROOT / "benchmarks/clients/requests_calls.py")]
            + [str(url_file), *tls, "--workers", str(PARALLEL)]
            + (["--header", "Connection: close"] if scenario.close else []),
        ),
    ]


def write_job_file(work: Path, scenario: Scenario) -> Path:
    headers = "    headers: {Connection: close}\n" if scenario.close else ""
    endpoints = "".join(
        f"      - {{name: call-{i}, url: '{url}'}}\n"
        for i, url in enumerate(scenario.urls)
    )
    path = work / f"job-{scenario.key}.yaml"
    path.write_text(
        "version: 1\n"
        "identities:\n"
        "  client:\n"
        f"    certificate: {work / 'client-cert.pem'}\n"
        f"    key: {work / 'client-key.pem'}\n"
        "truststores:\n"
        "  bench-ca:\n"
        f"    certificates: [{work / 'ca.pem'}]\n"
        "jobs:\n"
        "  bench:\n"
        "    identity: client\n"
        "    truststore: bench-ca\n"
        f"{headers}"
        "    endpoints:\n"
        f"{endpoints}"
    )
    return path


def measure(
    scenario: Scenario, tool: str, command: list[str], work: Path
) -> Measurement:
    """Run one tool in a child process and read its rusage from wait4."""
    output = work / "output.txt"
    with open(output, "wb") as stdout:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = output.read_text()
    if process.returncode != 0:
        raise RuntimeError(f"{tool} exited with {process.returncode}: {text[-500:]}")
    cpu = usage.ru_utime + usage.ru_stime
    if tool.startswith("curl"):
        tick_wall, tick_cpu, ok = wall, cpu, text.split().count("200")
    else:
        reported = json.loads(text.splitlines()[-1])
        tick_wall, tick_cpu = reported["tick_wall_s"], reported["tick_cpu_s"]
        ok = reported["ok"]
    return Measurement(
        scenario=scenario.title,
        tool=tool,
        tick_wall_s=tick_wall,
        process_wall_s=wall,
        tick_cpu_s=tick_cpu,
        cpu_s=cpu,
        peak_rss_mb=usage.ru_maxrss / 1024,
        ok=ok,
    )


def median(group: list[Measurement]) -> Measurement:
    first = group[0]
    return Measurement(
        scenario=first.scenario,
        tool=first.tool,
        tick_wall_s=statistics.median(m.tick_wall_s for m in group),
        process_wall_s=statistics.median(m.process_wall_s for m in group),
        tick_cpu_s=statistics.median(m.tick_cpu_s for m in group),
        cpu_s=statistics.median(m.cpu_s for m in group),
        peak_rss_mb=max(m.peak_rss_mb for m in group),
        ok=min(m.ok for m in group),
    )


def print_machine(curl: str, nginx: str) -> None:
    import pycurl

    model = "unknown CPU"
    if shutil.which("lscpu"):
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    curl_version = subprocess.run(
        [curl, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    nginx_version = subprocess.run(
        [nginx, "-v"], capture_output=True, text=True, check=False
    ).stderr.strip()
    print(f"machine: {model}, {os.cpu_count()} cores, {memory_gib:.1f} GiB RAM")
    print(f"python {platform.python_version()}; {pycurl.version}")
    print(f"{curl_version}")
    print(f"{nginx_version}")


if __name__ == "__main__":
    sys.exit(main())
