"""Where response records go: JSON lines, a response log, readable console lines."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Protocol

from runner.errors import UsageError
from runner.report.records import Record


class RecordSink(Protocol):
    def emit(self, record: Record) -> None: ...

    def close(self) -> None: ...


class JsonLinesSink:
    """Write each record as one line of JSON and flush, so readers see it at once."""

    def __init__(self, stream: IO[str], *, owned: bool = False) -> None:
        self.stream = stream
        self.owned = owned
        self._lock = threading.Lock()

    @classmethod
    def append_to(cls, path: str) -> JsonLinesSink:
        """Open a response log for appending; raise UsageError when that fails."""
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
        except OSError as e:
            raise UsageError(f"cannot open response log {path}: {e.strerror}") from e
        return cls(stream, owned=True)

    def emit(self, record: Record) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.owned:
            self.stream.close()


class ConsoleSink:
    """Write one readable line per record; failures get their message and hint."""

    def __init__(self, stream: IO[str], *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self._lock = threading.Lock()

    def emit(self, record: Record) -> None:
        if self.quiet and record["ok"]:
            return
        with self._lock:
            self.stream.write(format_record(record))
            self.stream.flush()

    def close(self) -> None:
        pass


def format_record(record: Record) -> str:
    """Format a record as a line for people, with indented message and hint lines."""
    verdict = "PASS" if record["ok"] else "FAIL"
    name = f"{record['job']}/{record['endpoint']}"
    attempt = f" (attempt {record['attempt']})" if record["attempt"] > 1 else ""
    status = record["status"] if record["status"] is not None else "---"
    line = (
        f"{verdict} {name}{attempt}  {record['method']} {record['url']}  {status}  "
        f"{record['duration_ms']:.0f} ms"
    )
    identity = record["identity"]
    if identity:
        line += f"  as {identity['subject']}"
    error = record["error"]
    if error is None:
        return line + "\n"
    lead = "failed as expected" if record["ok"] else "error"
    return (
        f"{line}\n    {lead}: {error['kind']}: {error['message']}\n"
        f"    hint: {error['hint']}\n"
    )


class Fanout:
    """Send each record to several sinks."""

    def __init__(self, sinks: list[RecordSink]) -> None:
        self.sinks = sinks

    def emit(self, record: Record) -> None:
        for sink in self.sinks:
            sink.emit(record)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
