"""Record sinks: a failed write raises OutputError, other sinks still get the record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.errors import OutputClosed, OutputError, UsageError
from runner.report.sinks import Fanout, JsonLinesSink, format_record

RECORD = {"job": "j", "ok": True}
DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full")


@needs_dev_full
def test_full_device_raises_output_error() -> None:
    sink = JsonLinesSink.append_to(str(DEV_FULL))
    with pytest.raises(OutputError, match="No space left on device"):
        sink.emit(RECORD)
    sink.close()  # the unwritten rest is dropped without a second error


def test_closed_pipe_raises_output_closed() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 (sink closes it)
    sink = JsonLinesSink(stream, owned=True, name="the pipe")
    with pytest.raises(OutputClosed, match="the pipe was closed"):
        sink.emit(RECORD)
    sink.close()
    assert stream.closed


@needs_dev_full
def test_fanout_feeds_other_sinks_first(tmp_path: Path) -> None:
    log = tmp_path / "responses.jsonl"
    good = JsonLinesSink.append_to(str(log))
    fanout = Fanout([JsonLinesSink.append_to(str(DEV_FULL)), good])
    with pytest.raises(OutputError):
        fanout.emit(RECORD)
    good.close()
    assert json.loads(log.read_text()) == RECORD


def test_response_log_folder_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        JsonLinesSink.append_to(str(tmp_path / "missing" / "log.jsonl"))
    assert not (tmp_path / "missing").exists()


def console_record(duration_ms: float) -> dict[str, object]:
    return {
        "ok": True,
        "job": "j",
        "endpoint": "e",
        "attempt": 1,
        "method": "GET",
        "url": "https://localhost/",
        "status": 200,
        "duration_ms": duration_ms,
        "identity": None,
        "error": None,
    }


@pytest.mark.parametrize(
    ("duration_ms", "shown"),
    [(0.0, "0.0 ms"), (0.44, "0.4 ms"), (9.94, "9.9 ms"), (12.6, "13 ms")],
)
def test_console_line_duration(duration_ms: float, shown: str) -> None:
    line = format_record(console_record(duration_ms))
    assert line.endswith(f"  200  {shown}\n")
