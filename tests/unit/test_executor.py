"""Executor limits and loop control, without network."""

from __future__ import annotations

import threading
import time

import pytest

from runner.transport.executor import DEFAULT_PER_HOST, Executor


def test_zero_concurrency_rejected() -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1, got 0"):
        Executor(concurrency=0)


def test_zero_per_host_rejected() -> None:
    with pytest.raises(ValueError, match="per_host must be at least 1, got 0"):
        Executor(per_host=0)


def test_per_host_default() -> None:
    executor = Executor()
    executor.close()

    assert executor.per_host == DEFAULT_PER_HOST


def test_per_host_capped_by_concurrency() -> None:
    executor = Executor(concurrency=2, per_host=10)
    executor.close()

    assert executor.per_host == 2


def test_run_until_idle_returns_at_once() -> None:
    executor = Executor()
    started = time.monotonic()
    executor.run_until_idle()
    elapsed = time.monotonic() - started
    executor.close()

    assert elapsed < 0.5


def test_wake_ends_run_until() -> None:
    executor = Executor()
    stop = threading.Event()
    loop = threading.Thread(target=executor.run_until, args=(stop,))
    loop.start()
    time.sleep(0.05)
    started = time.monotonic()
    stop.set()
    executor.wake()
    loop.join(timeout=5)
    elapsed = time.monotonic() - started
    executor.close()

    assert elapsed < 0.5
