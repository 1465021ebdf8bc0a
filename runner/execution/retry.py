"""When a failed call is tried again, and after how long.

A job's ``retries`` are extra attempts for failures that another attempt may cure:
no connection, a TLS error that is not about certificates, a timeout before the
TLS handshake finished, and HTTP 5xx. Certificate problems (required, rejected,
untrusted, wrong host name) fail the same way every time, and a timeout after the
request was sent may have reached the server, so neither is retried. An invalid or
cut-off HTTP response (unexpected_response) came after the request reached the
server, so it is not retried either.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from runner.errors import ErrorKind
from runner.transport.classify import Failure
from runner.transport.request import Response

log = logging.getLogger(__name__)

RETRYABLE_KINDS = frozenset({ErrorKind.CONNECTION_FAILED, ErrorKind.TLS_ERROR})


def is_retryable(response: Response | None, failure: Failure | None) -> bool:
    """Return whether a call that did not meet its expectation may be tried again."""
    if response is None:
        return False  # the call never started: its job cannot run
    if response.completed and response.status is not None:
        return 500 <= response.status <= 599
    if failure is None:
        return False
    if failure.kind in RETRYABLE_KINDS:
        return True
    handshake_done = bool(response.timings_ms.get("tls"))
    return failure.kind == ErrorKind.TIMEOUT and not handshake_done


@dataclass
class Backoff:
    """Exponential backoff with jitter: attempt n waits between d/2 and d seconds,
    where d = ``base`` * 2**(n-1), at most ``maximum``."""

    base: float = 0.5
    maximum: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failed_attempt: int) -> float:
        """Return the seconds to wait after attempt ``failed_attempt`` failed."""
        ceiling = min(self.maximum, self.base * 2 ** (failed_attempt - 1))
        return self.rng.uniform(ceiling / 2, ceiling)


class Timers:
    """Run callbacks after a delay on one background thread.

    The thread starts with the first callback. ``close`` drops the callbacks that
    are still waiting and returns how many it dropped.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_later(self, delay: float, callback: Callable[[], None]) -> bool:
        """Run ``callback`` after ``delay`` seconds; False when already closed."""
        with self._condition:
            if self._closed:
                return False
            due = time.monotonic() + delay
            heapq.heappush(self._heap, (due, next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="mtls-runner-timers", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        return True

    @property
    def pending(self) -> int:
        with self._condition:
            return len(self._heap)

    def close(self) -> int:
        """Stop the thread and drop waiting callbacks; return how many were dropped."""
        with self._condition:
            self._closed = True
            dropped = len(self._heap)
            self._heap.clear()
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        return dropped

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._closed and (
                    not self._heap or self._heap[0][0] > time.monotonic()
                ):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(wait)
                if self._closed:
                    return
                _, _, callback = heapq.heappop(self._heap)
            try:
                callback()
            except Exception:
                log.exception("delayed callback failed")
