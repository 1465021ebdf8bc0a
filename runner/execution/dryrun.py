"""``run --dry-run``: everything a real run prepares, shown instead of sent.

Each job is planned exactly as the service plans it, so keys are decrypted,
chains built, truststores read and variables expanded, but no Executor exists
and no socket is opened.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from runner.config.loader import Config, Defined
from runner.config.models import Job
from runner.config.schedules import parse_schedule
from runner.errors import JobError
from runner.execution.material import KeyMaterial
from runner.execution.plan import PlannedCall, plan_job
from runner.report.dryrun import format_header, format_preview, format_summary
from runner.report.sinks import TextOutput
from runner.scheduling import Clock, local_zone, make_trigger, next_run_times, utc_now
from runner.tls.identity import LoadedIdentity
from runner.tls.truststore import LoadedTruststore
from runner.transport.request import DEFAULT_BODY_LIMIT

NEXT_RUNS = 3
T = TypeVar("T")
N = TypeVar("N")


@dataclass(frozen=True)
class JobPreview:
    """The key material, schedule and requests that a real run of one job uses."""

    defined: Defined[Job]
    config: Config
    next_runs: list[dt.datetime]
    zone: dt.tzinfo
    identity: LoadedIdentity | None
    truststore: LoadedTruststore | None
    calls: list[PlannedCall]
    now: dt.datetime

    @property
    def errors(self) -> list[JobError]:
        """Return the distinct errors that would stop calls of this job."""
        found: dict[tuple[str, str], JobError] = {}
        for call in self.calls:
            if call.error is not None:
                found.setdefault((call.error.kind, call.error.message), call.error)
        return list(found.values())


def preview_job(
    config: Config,
    name: str,
    material: KeyMaterial,
    environ: Mapping[str, str],
    now: dt.datetime,
    default_zone: dt.tzinfo,
    body_limit: int = DEFAULT_BODY_LIMIT,
) -> JobPreview:
    """Plan one job and compute its next run times, as the service would."""
    defined = config.jobs[name]
    job = defined.model
    next_runs: list[dt.datetime] = []
    zone = default_zone
    if job.schedule is not None:
        spec = parse_schedule(job.schedule)
        trigger = make_trigger(spec, default_zone)
        next_runs = next_run_times(trigger, now, NEXT_RUNS)
        if spec.kind == "interval":
            zone = dt.UTC
        elif spec.timezone is not None:
            zone = zoneinfo.ZoneInfo(spec.timezone)
    calls = plan_job(defined, material, environ, body_limit)
    identity = None
    if job.identity is not None:
        identity = _loaded(material.identity, job.identity)
    return JobPreview(
        defined=defined,
        config=config,
        next_runs=next_runs,
        zone=zone,
        identity=identity,
        truststore=_loaded(material.truststore, job.truststore),
        calls=calls,
        now=now,
    )


def _loaded(load: Callable[[N], T], name: N) -> T | None:
    """Return the loaded key material, or None when its error is in the calls."""
    try:
        return load(name)
    except JobError:
        return None


def dry_run(
    config: Config,
    job_names: Sequence[str],
    out: TextOutput,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock = utc_now,
    default_zone: dt.tzinfo | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
) -> int:
    """Print what each job would do; return 0, or 1 when a job cannot start."""
    env = os.environ if environ is None else environ
    zone = default_zone or local_zone()
    material = KeyMaterial(config)
    now = clock()
    previews = [
        preview_job(config, name, material, env, now, zone, body_limit)
        for name in job_names
    ]
    out.write(format_header() + "\n")
    for preview in previews:
        out.write("\n".join(format_preview(preview)) + "\n\n")
    out.write(format_summary(previews) + "\n")
    out.flush()
    return 1 if any(p.errors for p in previews) else 0
