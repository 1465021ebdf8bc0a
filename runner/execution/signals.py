"""Signal handling of the service: stop on SIGINT and SIGTERM, reload on SIGHUP.

The handlers only set flags and write a byte to a pipe that the service loop waits
on. They take no lock, so a signal that arrives while the main thread holds one
cannot deadlock it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from runner.execution.service import Service


@contextmanager
def signals_handled(service: Service) -> Iterator[None]:
    """Stop on SIGINT and SIGTERM and reload on SIGHUP while inside the block.

    After the first stop signal the default handlers return, so a second one ends
    the process without waiting for in-flight calls.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install signal handlers
        return

    # The handlers neither log nor lock: the loop logs the reason they leave.
    def stop(number: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
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
