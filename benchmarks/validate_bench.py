"""Time `mtls-runner validate --schema-only` beside check-jsonschema on the same files.

Generates job files (1,000 by default) into a temporary folder, checks that both
tools accept all of them, then runs each tool as one process over all files
several times and prints the median and best wall-clock times. With --write, the
result replaces the "validate" section of docs/benchmarks.md.

    python benchmarks/validate_bench.py [--files N] [--repeat N] [--write]

check-jsonschema comes from the ``bench`` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schemas" / "jobfile.schema.json"
DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- validate benchmark: start -->"
END = "<!-- validate benchmark: end -->"

JOB_FILE = """\
# yaml-language-server: $schema=../schemas/jobfile.schema.json
version: 1

identities:
  partner-{n}:
    certificate: certs/partner-{n}/client-cert.pem
    key: certs/partner-{n}/client-key.der
    chain: [certs/partner-{n}/issuing-ca.pem]
    password: {{env: PARTNER_{n}_KEY_PASSWORD}}

truststores:
  partner-{n}-cas:
    certificates: [certs/partner-{n}/ca.pem]

jobs:
  orders-{n}:
    identity: partner-{n}
    truststore: partner-{n}-cas
    schedule: every 5 minutes
    jitter: 10s
    timeout: 10s
    retries: 2
    headers: {{Accept: application/json}}
    endpoints:
      - name: health
        url: https://api-{n}.partner.example/health
        expect:
          status: 200
          body_contains: UP
      - name: orders
        url: https://api-{n}.partner.example/v2/orders?state=open
        headers: {{X-Request-Tag: "${{REQUEST_TAG}}"}}

  report-{n}:
    identity: partner-{n}
    truststore: partner-{n}-cas
    schedule: every day at 02:30 Europe/Berlin
    timeout: 2m
    max_response_bytes: 10MiB
    endpoints:
      - name: report
        method: POST
        url: https://reports-{n}.partner.example/v1/reports
        json: {{kind: daily, format: csv}}
        expect:
          status: [200, 202]
"""


def generate(folder: Path, count: int) -> list[Path]:
    """Write ``count`` job files with distinct names into ``folder``."""
    paths = []
    for n in range(count):
        path = folder / f"job-{n:04d}.yaml"
        path.write_text(JOB_FILE.format(n=n), encoding="utf-8")
        paths.append(path)
    return paths


def commands(target: Path, paths: list[Path]) -> dict[str, list[str]]:
    """Return the argv of each tool: mtls-runner on ``target``, the other on paths."""
    scripts = Path(sys.executable).parent
    check_jsonschema = shutil.which("check-jsonschema", path=str(scripts))
    if check_jsonschema is None:
        sys.exit("check-jsonschema is missing: pip install -e '.[bench]'")
    return {
        "mtls-runner": [sys.executable, "-m", "runner", "validate", "--schema-only",
                        str(target)],
        "check-jsonschema": [check_jsonschema, "--schemafile", str(SCHEMA),
                             *map(str, paths)],
    }  # fmt: skip


def time_command(argv: list[str], repeat: int) -> list[float]:
    """Run ``argv`` ``repeat`` times; fail when it does not exit 0."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            sys.exit(f"{argv[0]} exited {result.returncode}:\n{result.stdout[-2000:]}")
    return times


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def report(
    results: dict[str, list[float]],
    startup: dict[str, list[float]],
    count: int,
    repeat: int,
) -> str:
    ours = statistics.median(results["mtls-runner"])
    theirs = statistics.median(results["check-jsonschema"])
    versions = {
        name: metadata.version(name)
        for name in ("mtls-runner", "check-jsonschema", "pydantic", "PyYAML")
    }
    rows = "\n".join(
        f"| {name} {versions[name]} | {statistics.median(t):.2f} s | {min(t):.2f} s "
        f"| {statistics.median(startup[name]):.2f} s |"
        for name, t in results.items()
    )
    return f"""{START}
## Validate

`mtls-runner validate --schema-only` and `check-jsonschema --schemafile
schemas/jobfile.schema.json` over the same {count} generated job files (two jobs,
three endpoints, an identity and a truststore each), each tool as one process
over all files, {repeat} runs each, wall-clock time including start-up.

| tool | median | best | one file (start-up) |
|---|---|---|---|
{rows}

mtls-runner takes {ours / theirs:.0%} of check-jsonschema's median time (aim: under
50%). mtls-runner checks more than the schema: YAML 1.1 traps, duplicate keys,
durations, schedules, references and duplicate names across files.

- Machine: {machine()}.
- Load average at the start of the run: {os.getloadavg()[0]:.2f}; single runs
  vary by tens of percent on a busy machine.
- PyYAML {versions["PyYAML"]} with libyaml; pydantic {versions["pydantic"]}.
- Command: `python benchmarks/validate_bench.py --files {count} --repeat {repeat}`
  (or `make bench-validate`).
{END}
"""


def write_section(section: str) -> None:
    """Replace the validate section of docs/benchmarks.md, or append it."""
    DOC.parent.mkdir(exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="job files to make")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each tool")
    parser.add_argument("--write", action="store_true", help="update the docs page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="validate-bench-") as temporary:
        folder = Path(temporary)
        paths = generate(folder, args.files)
        results = {
            name: time_command(argv, args.repeat)
            for name, argv in commands(folder, paths).items()
        }
        startup = {
            name: time_command(argv, args.repeat)
            for name, argv in commands(paths[0], paths[:1]).items()
        }
    section = report(results, startup, args.files, args.repeat)
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
