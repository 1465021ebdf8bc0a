"""Run every endpoint of a job file once through mtls-runner, as one scheduled tick.

Prints one JSON line: wall and CPU seconds of the tick (after the job file is loaded
and the key material converted, which happens once per configuration), and how
many records were ok. Records are serialised as ``run --json`` does, to /dev/null.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import time

from runner.config.loader import load_config
from runner.execution.gcfreeze import freeze_long_lived_objects
from runner.execution.material import KeyMaterial
from runner.execution.once import CallRunner
from runner.execution.plan import PlannedCall, plan_calls
from runner.report.sinks import JsonLinesSink
from runner.transport.executor import Executor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("job_file")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--host-concurrency", type=int, default=None)
    parser.add_argument("--profile", metavar="FILE", help="write cProfile stats")
    args = parser.parse_args()

    config = load_config([args.job_file])
    calls = plan_calls(config, list(config.jobs), KeyMaterial(config))
    executor = Executor(args.concurrency, args.host_concurrency)
    freeze_long_lived_objects()  # as run --once does after planning
    with open(os.devnull, "w") as devnull:
        sink = JsonLinesSink(devnull)
        profiler = cProfile.Profile() if args.profile else None
        wall, cpu, ok = time.perf_counter(), time.process_time(), 0
        if profiler:
            profiler.enable()
        ok = tick(calls, executor, sink)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    executor.close()
    print(json.dumps({"tick_wall_s": wall, "tick_cpu_s": cpu, "ok": ok}))


def tick(calls: list[PlannedCall], executor: Executor, sink: JsonLinesSink) -> int:
    verdicts: list[bool] = []
    runner = CallRunner(executor, sink)
    for call in calls:
        runner.start(call, lambda _, ok: verdicts.append(ok))
    executor.run_until_idle()
    return sum(verdicts)


if __name__ == "__main__":
    main()
