"""Print the throughput benchmark's table and its verdict on the targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

CURL = "curl --parallel-max 16"
RUNNER = "mtls-runner"
REQUESTS = "requests, 16 threads"
# Targets for the runner with its defaults: wall time against curl's, at most;
# and how many times faster than the requests script, at least.
MAX_VS_CURL = {"(a)": 1.2, "(b)": 1.2, "(c)": 1.3}
MIN_VS_REQUESTS = {"(a)": 3.0, "(b)": 3.0}
MAX_RSS_MB = 80


class Row(Protocol):
    scenario: str
    tool: str
    tick_wall_s: float
    process_wall_s: float
    tick_cpu_s: float
    cpu_s: float
    peak_rss_mb: float
    ok: int


def print_table(rows: Sequence[Row]) -> None:
    """Print one Markdown row per scenario and tool, with ratios to curl's wall."""
    print()
    print(
        "| scenario | tool | calls wall s | calls CPU s | process wall s "
        "| process CPU s | peak RSS MB | ok | wall / curl |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        curl = _find(rows, row.scenario, CURL)
        ratio = row.tick_wall_s / curl.tick_wall_s if curl else float("nan")
        print(
            f"| {row.scenario} | {row.tool} | {row.tick_wall_s:.3f} "
            f"| {row.tick_cpu_s:.3f} | {row.process_wall_s:.3f} | {row.cpu_s:.3f} "
            f"| {row.peak_rss_mb:.1f} | {row.ok} | {ratio:.2f} |"
        )
    print()


def print_targets(rows: Sequence[Row]) -> None:
    """Print each target with the measured ratio and whether it was met."""
    for row in rows:
        if row.tool != RUNNER:
            continue
        prefix = row.scenario.split()[0]
        curl = _find(rows, row.scenario, CURL)
        requests = _find(rows, row.scenario, REQUESTS)
        if curl and prefix in MAX_VS_CURL:
            ratio = row.tick_wall_s / curl.tick_wall_s
            _verdict(
                f"{row.scenario}: wall {ratio:.2f}x curl's",
                ratio <= MAX_VS_CURL[prefix],
                f"at most {MAX_VS_CURL[prefix]}x",
            )
        if requests and prefix in MIN_VS_REQUESTS:
            speedup = requests.tick_wall_s / row.tick_wall_s
            _verdict(
                f"{row.scenario}: {speedup:.1f}x faster than requests",
                speedup >= MIN_VS_REQUESTS[prefix],
                f"at least {MIN_VS_REQUESTS[prefix]}x",
            )
        _verdict(
            f"{row.scenario}: peak RSS {row.peak_rss_mb:.1f} MB",
            row.peak_rss_mb < MAX_RSS_MB,
            f"under {MAX_RSS_MB} MB",
        )


def _verdict(measured: str, met: bool, target: str) -> None:
    print(f"{'met    ' if met else 'NOT MET'}  {measured} (target {target})")


def _find(rows: Sequence[Row], scenario: str, tool: str) -> Row | None:
    return next((r for r in rows if r.scenario == scenario and r.tool == tool), None)
