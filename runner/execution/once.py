"""Run planned calls on the executor and emit one record per attempt."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable

from runner.execution.expect import evaluate
from runner.execution.plan import PlannedCall
from runner.execution.retry import Backoff, Timers, is_retryable
from runner.report.records import build_record
from runner.report.redact import scrub
from runner.report.sinks import RecordSink
from runner.transport.classify import Failure, classify
from runner.transport.executor import Callback, Executor
from runner.transport.request import Request, Response

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Done = Callable[[PlannedCall, bool], None]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CallRunner:
    """Start planned calls, judge their outcome, emit their records and retry.

    A call with ``retries`` left is tried again after a backoff when
    ``is_retryable`` allows it. Every attempt gets its own record, and ``done``
    runs once per call, with the verdict of its last attempt. Call ``close`` to
    drop the retries that still wait for their backoff.
    """

    def __init__(
        self,
        executor: Executor,
        sink: RecordSink,
        clock: Clock = _utc_now,
        backoff: Backoff | None = None,
    ) -> None:
        self.executor = executor
        self.sink = sink
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.timers = Timers()

    def start(
        self,
        call: PlannedCall,
        done: Done | None = None,
        attempt: int = 1,
        *,
        batch: list[tuple[Request, Callback]] | None = None,
        started: dt.datetime | None = None,
    ) -> None:
        """Start one attempt; ``done`` runs with the verdict once no retry follows.

        With ``batch`` the request is appended there instead of being submitted,
        for the caller to pass to Executor.submit_many. ``started`` is the record's
        start time when the caller has read the clock already; it defaults to now.
        """
        if started is None:
            started = self.clock()
        if call.error is not None or call.request is None:
            error = call.error
            failure = Failure(error.kind, error.message, error.hint) if error else None
            ok, reported = evaluate(call.expect, None, failure)
            self._emit(call, attempt, started, ok, None, reported)
            if done:
                done(call, ok)
            return

        def finished(_: Request, response: Response) -> None:
            assert call.context is not None
            failure = classify(response, call.context)
            ok, reported = evaluate(call.expect, response, failure)
            self._emit(call, attempt, started, ok, response, reported)
            if not ok and attempt <= call.retries and is_retryable(response, failure):
                self._retry(call, done, attempt, reported)
            elif done:
                done(call, ok)

        if batch is not None:
            batch.append((call.request, finished))
        else:
            self.executor.submit(call.request, finished)

    def close(self) -> None:
        """Drop the retries that wait for their backoff; log how many."""
        dropped = self.timers.close()
        if dropped:
            log.warning("dropped %d waiting retries at shutdown", dropped)

    def _retry(
        self, call: PlannedCall, done: Done | None, attempt: int, error: Failure | None
    ) -> None:
        delay = self.backoff.delay(attempt)
        reason = (
            f"{error.kind}: {scrub(error.message, call.secret_values)}"
            if error
            else "unexpected response"
        )
        log.warning(
            "retrying %s/%s in %.2fs: attempt %d of %d failed with %s",
            call.job,
            call.endpoint,
            delay,
            attempt,
            call.retries + 1,
            reason,
        )
        scheduled = self.timers.call_later(
            delay, lambda: self.start(call, done, attempt + 1)
        )
        if not scheduled:
            log.warning(
                "no retry of %s/%s: the runner is shutting down",
                call.job,
                call.endpoint,
            )

    def _emit(
        self,
        call: PlannedCall,
        attempt: int,
        started: dt.datetime,
        ok: bool,
        response: Response | None,
        error: Failure | None,
    ) -> None:
        self.sink.emit(
            build_record(
                job=call.job,
                endpoint=call.endpoint,
                method=call.method,
                url=call.url,
                attempt=attempt,
                started=started,
                ok=ok,
                response=response,
                error=error,
                identity=call.identity,
                secret_values=call.secret_values,
                truststore=call.context.truststore if call.context else None,
            )
        )


def run_once(
    calls: Iterable[PlannedCall],
    executor: Executor,
    sink: RecordSink,
    backoff: Backoff | None = None,
) -> bool:
    """Run every call once (plus its retries), concurrently; True when all succeeded."""
    planned = list(calls)
    verdicts: list[bool] = []
    lock = threading.Lock()
    all_done = threading.Event()

    def done(_: PlannedCall, ok: bool) -> None:
        with lock:
            verdicts.append(ok)
            finished = len(verdicts) == len(planned)
        if finished:
            all_done.set()
            executor.wake()

    runner = CallRunner(executor, sink, backoff=backoff)
    try:
        if not planned:
            all_done.set()
        for call in planned:
            runner.start(call, done)
        executor.run_until(all_done)
    finally:
        runner.close()
    return all(verdicts)
