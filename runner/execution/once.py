"""Run planned calls on the executor and emit one record per attempt."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from runner.execution.expect import evaluate
from runner.execution.plan import PlannedCall
from runner.report.records import build_record
from runner.report.sinks import RecordSink
from runner.transport.classify import Failure, classify
from runner.transport.executor import Executor
from runner.transport.request import Request, Response

Clock = Callable[[], dt.datetime]
Done = Callable[[PlannedCall, bool], None]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CallRunner:
    """Start planned calls, judge their outcome and emit their records."""

    def __init__(
        self, executor: Executor, sink: RecordSink, clock: Clock = _utc_now
    ) -> None:
        self.executor = executor
        self.sink = sink
        self.clock = clock

    def start(
        self, call: PlannedCall, done: Done | None = None, attempt: int = 1
    ) -> None:
        """Start one attempt; ``done`` runs with its verdict when it has a record."""
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
            if done:
                done(call, ok)

        self.executor.submit(call.request, finished)

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
    calls: Iterable[PlannedCall], executor: Executor, sink: RecordSink
) -> bool:
    """Run every call once, concurrently; return True when all of them succeeded."""
    verdicts: list[bool] = []
    runner = CallRunner(executor, sink)
    for call in calls:
        runner.start(call, lambda _, ok: verdicts.append(ok))
    executor.run_until_idle()
    return all(verdicts)
