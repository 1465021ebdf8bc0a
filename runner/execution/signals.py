"""Signal handling of the service: stop on SIGINT and SIGTERM, reload on SIGHUP.

The handlers of a first stop signal and of SIGHUP only set flags and write a byte
to a pipe that the service loop waits on. A second stop signal writes one line to
file descriptor 2 and ends the process. No handler takes a lock, so a signal that
arrives while the main thread holds one cannot deadlock it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from runner.execution.service import Service

# Written with os.write, in the format that the command line gives log lines,
# because the logging module takes locks and writes through buffered streams
# that the interrupted code may be using.
ABANDONED_LINE = (
    "mtls-runner: ERROR: received {signal} while stopping, so the service ends at "
    "once: calls in flight were abandoned and their records may be missing\n"
)


@contextmanager
def signals_handled(service: Service) -> Iterator[None]:
    """Stop on SIGINT and SIGTERM and reload on SIGHUP while inside the block.

    After the first stop signal, a second SIGINT or SIGTERM logs that in-flight
    calls were abandoned and ends the process by that signal at once, without
    waiting for them. A shell then reports status 130 (SIGINT) or 143 (SIGTERM).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install signal handlers
        return

    # The handlers neither log nor lock: the loop logs the reason they leave.
    def stop(number: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, abandon)
        signal.signal(signal.SIGTERM, abandon)
        service.request_stop(f"received {signal.Signals(number).name}")

    def reload(number: int, frame: FrameType | None) -> None:
        service.request_reload("received SIGHUP")

    previous = {
        number: signal.signal(number, handler)
        for number, handler in (
            (signal.SIGINT, stop),
            (signal.SIGTERM, stop),
            (signal.SIGHUP, reload),
        )
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def abandon(number: int, frame: FrameType | None) -> None:
    """Write the abandoned-calls line, then end the process by signal ``number``.

    The default action of the signal ends every thread, the executor's included,
    so calls in flight get no records.
    """
    line = ABANDONED_LINE.format(signal=signal.Signals(number).name)
    with contextlib.suppress(OSError):
        os.write(2, line.encode())
    signal.signal(number, signal.SIG_DFL)
    signal.raise_signal(number)
