"""The long-running service: scheduled jobs, reload on SIGHUP, clean stop.

Two threads do the work. The executor thread drives every transfer on the
Executor, so a slow or hung call holds up nothing but its own job. The thread
that calls ``Service.run`` keeps the schedule: it hands the calls of each due job
to the executor, which returns at once. Jobs are planned when the files are
loaded, and again when their key material changed on disk. A job counts as
running until the last call of the run (retries included) has its record, and the
scheduler skips a job that is due while it still runs.

``request_stop`` and ``request_reload`` only set flags and write a byte to a
pipe that the loop waits on, so signal handlers (runner.execution.signals) may
call them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from runner.config.loader import Config, Defined, load_config, select_scheduled_jobs
from runner.config.models import Job
from runner.config.schedules import parse_schedule
from runner.config.units import format_duration
from runner.errors import ConfigError, MtlsRunnerError, OutputError
from runner.execution.gcfreeze import freeze_long_lived_objects
from runner.execution.material import KeyMaterial, MaterialReload
from runner.execution.once import CallRunner
from runner.execution.plan import PlannedCall, plan_job
from runner.report.sinks import RecordSink
from runner.scheduling import JobScheduler, Run, format_time
from runner.transport.executor import Callback, Executor
from runner.transport.request import DEFAULT_BODY_LIMIT, Request

log = logging.getLogger(__name__)

# The loop wakes at least this often, so a wall clock that was set back or
# forward is noticed within this many seconds.
MAX_SLEEP_S = 1.0


@dataclass
class _JobState:
    """A job of the running configuration, with its calls planned on first run."""

    defined: Defined[Job]
    material: KeyMaterial
    calls: list[PlannedCall] | None = None
    versions: tuple[int, int] = (0, 0)
    presented: str | None = None


@dataclass
class _Progress:
    """Calls of one run that still lack their final record."""

    run: Run
    calls: int
    remaining: int = 0
    ok: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Service:
    """Run the scheduled jobs of job files until ``request_stop``."""

    def __init__(
        self,
        paths: Sequence[str],
        executor: Executor,
        sink: RecordSink,
        *,
        job_names: Sequence[str] = (),
        body_limit: int = DEFAULT_BODY_LIMIT,
        environ: Mapping[str, str] | None = None,
        scheduler: JobScheduler | None = None,
        loader: Callable[[Sequence[str]], Config] = load_config,
    ) -> None:
        self.paths = list(paths)
        self.job_names = list(job_names)
        self.executor = executor
        self.runner = CallRunner(executor, sink)
        self.body_limit = body_limit
        self.environ = os.environ if environ is None else environ
        self.scheduler = scheduler or JobScheduler()
        self.loader = loader
        self.jobs: dict[str, _JobState] = {}
        self.material: KeyMaterial | None = None
        self.failed = False
        # Set when records cannot be written; ``run`` raises it after stopping.
        self.output_error: OutputError | None = None
        self._stop_requested = ""
        self._reload_requested = ""
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._executor_stop = threading.Event()
        # Requests of the current scheduler pass; used by this thread only.
        self._batch: list[tuple[Request, Callback]] = []
        self._planned_in_pass = False
        self._dispatched: list[_Progress] = []

    def load(self, config: Config | None = None) -> None:
        """Load the job files (or take ``config``) and schedule their jobs.

        Raises ConfigError or UsageError when the files cannot run.
        """
        config = config or self.loader(self.paths)
        self._apply(config)
        self._log_start(config)

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop scheduling; in-flight calls finish. Safe in signal handlers."""
        self._stop_requested = reason
        self._wake()

    def request_reload(self, reason: str = "reload requested") -> None:
        """Reload the job files before the next run. Safe in signal handlers."""
        self._reload_requested = reason
        self._wake()

    def run(self) -> None:
        """Run due jobs until a stop is requested, then wait for in-flight calls.

        Raises OutputError after stopping when records could not be written.
        """
        worker = threading.Thread(
            target=self._drive_executor, name="mtls-runner-executor"
        )
        worker.start()
        try:
            while not self._stop_requested:
                if self._reload_requested:
                    log.info("%s", self._reload_requested)
                    self._reload_requested = ""
                    self.reload()
                self.scheduler.run_pending(started=self._submit_batch)
                self._submit_batch()
                if self._planned_in_pass:
                    self._planned_in_pass = False
                    freeze_long_lived_objects()
                self._sleep()
        finally:
            self._shutdown(worker)
        if self.output_error is not None:
            raise self.output_error

    def reload(self) -> None:
        """Load the job files again; keep the running jobs when they are invalid."""
        log.info("reloading %s", ", ".join(self.paths))
        try:
            config = self.loader(self.paths)
            self._apply(config)
        except ConfigError as e:
            for finding in e.findings:
                log.error("reload: %s", finding.format())
            errors = sum(1 for f in e.findings if f.severity == "error")
            log.error(
                "reload failed with %d errors; the previous jobs keep running", errors
            )
            return
        except MtlsRunnerError as e:
            log.error("reload failed: %s; the previous jobs keep running", e)
            return
        except Exception:
            # A service outlives a bug in one reload: the old jobs stay valid.
            log.exception("reload failed; the previous jobs keep running")
            return
        self._log_start(config)

    def _apply(self, config: Config) -> None:
        scheduled, unscheduled = select_scheduled_jobs(config, self.job_names)
        for name in unscheduled:
            log.warning(
                "job '%s' (%s) has no schedule, so the service does not run it; "
                "it runs with run --once",
                name,
                config.jobs[name].where,
            )
        for finding in config.warnings:
            log.warning("%s", finding.format())

        # Material whose files fail to load now keeps its last good state from
        # the configuration being replaced, as it would without the reload.
        material = KeyMaterial(config, previous=self.material)
        jobs = {name: _JobState(config.jobs[name], material) for name in scheduled}
        # Planning before scheduling keeps the first runs on time, and it logs
        # the certificate of each job, or why the job cannot start, at once.
        for state in jobs.values():
            self._planned(state)
        material.release_previous()
        freeze_long_lived_objects()
        self._planned_in_pass = False

        self._reschedule(jobs)
        self.jobs = jobs
        self.material = material

    def _reschedule(self, jobs: dict[str, _JobState]) -> None:
        """Schedule new jobs and jobs whose timing changed; drop removed ones."""
        for name in list(self.jobs):
            if name not in jobs:
                self.scheduler.clear(name)
                log.info("job '%s' removed", name)
        for name, state in jobs.items():
            job = state.defined.model
            old = self.jobs.get(name)
            if old is not None and _timing(old.defined.model) == _timing(job):
                continue  # keeps its next run time
            # NOTE: a run under the old schedule that is still going does not hold
            # back the first run under the new one, so the two may overlap once.
            self.scheduler.clear(name)
            assert job.schedule is not None
            self.scheduler.add(
                name, parse_schedule(job.schedule), self._start_run, job.jitter or 0
            )

    def _start_run(self, run: Run) -> None:
        state = self.jobs[run.name]
        calls = self._planned(state)
        progress = _Progress(run, len(calls), remaining=len(calls))
        self._dispatched.append(progress)

        def done(_: PlannedCall, ok: bool) -> None:
            with progress.lock:
                progress.remaining -= 1
                progress.ok += ok
                finished = progress.remaining == 0
            if finished:
                run.finish()
                if not log.isEnabledFor(logging.INFO):
                    return
                log.info(
                    "job '%s' finished: %d of %d calls ok; next run at %s",
                    run.name,
                    progress.ok,
                    len(calls),
                    format_time(run.job.next_run),
                )

        try:
            for call in calls:
                self.runner.start(call, done, batch=self._batch, started=run.started)
        except OutputError as e:  # a job that cannot start emits its records here
            self._output_failed(e)

    def _planned(self, state: _JobState) -> list[PlannedCall]:
        """Return the job's calls, planned again when its key material changed."""
        job = state.defined.model
        for reload in state.material.reload_changed(job):
            _log_reload(state.defined.name, reload)
        versions = state.material.versions(job)
        if state.calls is None or state.versions != versions:
            # The executor closes the connection pool of replaced key material
            # once it has been unused for as long as libcurl keeps connections.
            state.calls = plan_job(
                state.defined, state.material, self.environ, self.body_limit
            )
            state.versions = state.material.versions(job)
            self._planned_in_pass = True
            self._log_identity(state)
        return state.calls

    def _log_identity(self, state: _JobState) -> None:
        assert state.calls is not None
        first = state.calls[0]
        if first.error is not None:
            log.error(
                "job '%s' cannot start: %s (%s)",
                state.defined.name,
                first.error.message,
                first.error.hint,
            )
            return
        identity = first.identity
        presented = (
            f"certificate {identity.info.subject} (SHA-256 {identity.info.sha256})"
            if identity
            else "no client certificate"
        )
        if presented != state.presented:
            log.info("job '%s' presents %s", state.defined.name, presented)
            state.presented = presented

    def _log_start(self, config: Config) -> None:
        log.info("job files: %s", ", ".join(config.files))
        for name in self.jobs:
            job = self.jobs[name].defined.model
            scheduled = self.scheduler.find(name)
            jitter = (
                f" with up to {format_duration(job.jitter)} jitter"
                if job.jitter
                else ""
            )
            log.info(
                "job '%s': %s%s, endpoints: %d, next run at %s",
                name,
                job.schedule,
                jitter,
                len(job.endpoints),
                format_time(scheduled.next_run if scheduled else None),
            )

    def _submit_batch(self) -> None:
        # The calls of all jobs due in one pass reach the executor together, so
        # that its thread does not compete for the GIL while the rest of them are
        # still being dispatched. The runs are logged after that for the same
        # reason; their lateness was measured when they started.
        if self._batch:
            self.executor.submit_many(self._batch)
            self._batch = []
        if log.isEnabledFor(logging.INFO):
            for progress in self._dispatched:
                run = progress.run
                log.info(
                    "running job '%s': scheduled %s, started %.1f ms late, calls: %d",
                    run.name,
                    format_time(run.due),
                    run.lateness.total_seconds() * 1000,
                    progress.calls,
                )
        self._dispatched = []

    def _sleep(self) -> None:
        idle = self.scheduler.idle_seconds
        timeout = MAX_SLEEP_S if idle is None else min(max(idle, 0.0), MAX_SLEEP_S)
        if timeout <= 0:
            return
        readable, _, _ = select.select([self._wake_read], [], [], timeout)
        if readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_read, 4096):
                    pass

    def _wake(self) -> None:
        # A full pipe wakes the loop as well, and a closed one needs no wake.
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"\0")

    def _output_failed(self, error: OutputError) -> None:
        """Stop the service because records cannot be written; keep the first error.

        Going on would run every job and lose each record. The command line
        prints the error after the stop, so it is not logged here.
        """
        if self.output_error is None:
            self.output_error = error
        self.failed = True
        self.request_stop("records cannot be written")

    def _drive_executor(self) -> None:
        try:
            self.executor.run_until(self._executor_stop)
        except OutputError as e:
            self._output_failed(e)
        except Exception:
            log.exception("the executor stopped with an error; stopping the service")
            self.failed = True
            self.request_stop()

    def _shutdown(self, worker: threading.Thread) -> None:
        waiting = max((s.defined.model.timeout for s in self.jobs.values()), default=0)
        if self.output_error is not None:
            log.info(
                "stopping (%s): the records of calls in flight are lost",
                self._stop_requested,
            )
        else:
            log.info(
                "stopping (%s): no new runs; in-flight calls finish within their "
                "timeouts (at most %s)",
                self._stop_requested or "error",
                format_duration(waiting),
            )
        self.runner.close()
        self._executor_stop.set()
        self.executor.wake()
        start = time.monotonic()
        worker.join()
        log.info(
            "stopped after waiting %.1fs for in-flight calls", time.monotonic() - start
        )
        os.close(self._wake_read)
        os.close(self._wake_write)


def _log_reload(job: str, reload: MaterialReload) -> None:
    """Log key material loaded again, or changed files that fail to load."""
    if reload.error is None:
        log.info(
            "%s of job '%s' changed on disk and was loaded again", reload.subject, job
        )
        return
    log.error(
        "job '%s': %s changed on disk but cannot be loaded from %s: %s (hint: %s); "
        "%s, and the load is retried before the next run",
        job,
        reload.subject,
        ", ".join(reload.files),
        reload.error.message,
        reload.error.hint,
        reload.kept,
    )


def _timing(job: Job) -> tuple[str | None, float | None]:
    return job.schedule, job.jitter
