"""Record sinks: JSON lines, a response log and readable console lines.

A record that cannot be written raises OutputError, or OutputClosed for a pipe
whose reader went away. The run then stops, because every later record would be
lost too.
"""

from __future__ import annotations

import errno
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from runner.config.units import format_milliseconds
from runner.errors import OutputClosed, OutputError, UsageError
from runner.report.records import Record

# errno values of a reader that went away: a closed pipe, a closed socket.
_CLOSED = {errno.EPIPE, errno.ECONNRESET}


class TextOutput(Protocol):
    """A destination of reports: a text stream, or an Output around one."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...


class RecordSink(Protocol):
    def emit(self, record: Record) -> None: ...

    def close(self) -> None: ...


def write_failed(name: str, error: OSError) -> OutputError:
    """Return the OutputError for a failed write to the output called ``name``."""
    if error.errno in _CLOSED:
        return OutputClosed(f"{name} was closed by its reader")
    reason = error.strerror or str(error)
    return OutputError(f"cannot write to {name}: {reason}")


def stream_name(stream: IO[str]) -> str:
    """Name a stream for messages: standard output, standard error or its file."""
    if stream is sys.stdout or stream is sys.__stdout__:
        return "standard output"
    if stream is sys.stderr or stream is sys.__stderr__:
        return "standard error"
    return str(getattr(stream, "name", "the output"))


class Output:
    """A text stream whose write errors raise OutputError naming the stream."""

    def __init__(self, stream: IO[str], name: str | None = None) -> None:
        self.stream = stream
        self.name = name or stream_name(stream)
        self.failed = False

    def write(self, text: str) -> None:
        """Write ``text`` and flush it, so that readers see it at once."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError as e:
            self.failed = True
            raise write_failed(self.name, e) from e

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as e:
            self.failed = True
            raise write_failed(self.name, e) from e

    def close(self) -> None:
        """Close the stream; after a failed write, drop what is left unwritten."""
        try:
            self.stream.close()
        except OSError as e:
            if not self.failed:
                raise write_failed(self.name, e) from e


class JsonLinesSink:
    """Write each record as one line of JSON and flush, so readers see it at once."""

    def __init__(
        self, stream: IO[str], *, owned: bool = False, name: str | None = None
    ) -> None:
        self.output = Output(stream, name)
        self.owned = owned
        self._lock = threading.Lock()

    @classmethod
    def append_to(cls, path: str) -> JsonLinesSink:
        """Open a response log for appending; raise UsageError when that fails.

        Missing folders are not created, because records written under a
        mistyped folder name would go unnoticed.
        """
        folder = Path(path).parent
        if not folder.is_dir():
            raise UsageError(
                f"cannot open response log {path}: folder {folder} does not exist; "
                "create it first or fix the path"
            )
        try:
            stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
        except OSError as e:
            raise UsageError(f"cannot open response log {path}: {e.strerror}") from e
        return cls(stream, owned=True, name=f"response log {path}")

    def emit(self, record: Record) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self.output.write(line + "\n")

    def close(self) -> None:
        if self.owned:
            self.output.close()


class ConsoleSink:
    """Write one readable line per record; failures get their message and hint."""

    def __init__(self, stream: IO[str], *, quiet: bool = False) -> None:
        self.output = Output(stream)
        self.quiet = quiet
        self._lock = threading.Lock()

    def emit(self, record: Record) -> None:
        if self.quiet and record["ok"]:
            return
        with self._lock:
            self.output.write(format_record(record))

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
        f"{format_milliseconds(record['duration_ms'])}"
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
    """Send each record to several sinks.

    A sink that fails does not keep the record from the others. The first
    OutputError is raised after every sink had its turn.
    """

    def __init__(self, sinks: list[RecordSink]) -> None:
        self.sinks = sinks

    def emit(self, record: Record) -> None:
        self._each(lambda sink: sink.emit(record))

    def close(self) -> None:
        self._each(lambda sink: sink.close())

    def _each(self, action: Callable[[RecordSink], None]) -> None:
        failure: OutputError | None = None
        for sink in self.sinks:
            try:
                action(sink)
            except OutputError as e:
                failure = failure or e
        if failure is not None:
            raise failure
