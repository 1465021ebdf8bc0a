"""Exceptions and error kinds of mtls-runner.

Every user-facing exception carries the process exit code it leads to::

    MtlsRunnerError                 base class, exit 2
    ├── UsageError                  bad command line or a path that does not exist
    ├── ConfigError                 job files that cannot run, with every Finding
    ├── PlatformError               the linked libcurl lacks OpenSSL or blob options
    ├── OutputError                 records or reports cannot be written (a full disk)
    │   └── OutputClosed            the reader of a pipe went away, exit 141
    └── JobError                    one job cannot start, exit 1; carries an ErrorKind
        ├── IdentityError           kind identity_invalid
        ├── TruststoreError         kind truststore_invalid
        └── JobConfigError          kind config_invalid (for example a missing ${NAME})

A JobError never stops other jobs: the runner turns it into one response record per
endpoint of the job and carries on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class ErrorKind(StrEnum):
    """Error kinds of the response record contract."""

    CLIENT_CERTIFICATE_REQUIRED = "client_certificate_required"
    CLIENT_CERTIFICATE_REJECTED = "client_certificate_rejected"
    SERVER_CERTIFICATE_UNTRUSTED = "server_certificate_untrusted"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    CONNECTION_FAILED = "connection_failed"
    TIMEOUT = "timeout"
    TLS_ERROR = "tls_error"
    UNEXPECTED_RESPONSE = "unexpected_response"
    IDENTITY_INVALID = "identity_invalid"
    TRUSTSTORE_INVALID = "truststore_invalid"
    CONFIG_INVALID = "config_invalid"


Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Finding:
    """One located problem in a job file; line and column count from 1."""

    file: str
    line: int
    column: int
    message: str
    severity: Severity = "error"

    def format(self) -> str:
        """Return the finding as one FILE:LINE:COLUMN: SEVERITY: MESSAGE line.

        Line breaks and other control characters in the file name or message, as
        a YAML key may contain, are escaped so that the line stays one line.
        """
        where = f"{_escape(self.file)}:{self.line}:{self.column}"
        return f"{where}: {self.severity}: {_escape(self.message)}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(text: str) -> str:
    """Write control characters as Python escapes such as \\n and \\x1b."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


class MtlsRunnerError(Exception):
    """Base class of the errors that the command line reports without a traceback."""

    exit_code = 2


class UsageError(MtlsRunnerError):
    """A bad command line, or a path on it that does not exist."""


class PlatformError(MtlsRunnerError):
    """The linked libcurl cannot do what the runner needs."""


class OutputError(MtlsRunnerError):
    """Records or reports cannot be written, so the run stops instead of losing them."""


class OutputClosed(OutputError):
    """The reader of standard output or standard error went away (``| head -1``).

    The command ends quietly with 141, the status a shell reports for a process
    that SIGPIPE ended (128 + 13), as other command line tools end.
    """

    exit_code = 141


class ConfigError(MtlsRunnerError):
    """Job files that cannot run; ``findings`` lists every problem found."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = sorted(findings)
        errors = [f for f in self.findings if f.severity == "error"]
        first = errors[0].format() if errors else "invalid configuration"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


class JobError(MtlsRunnerError):
    """One job that cannot start; the message names the file, the hint the fix."""

    exit_code = 1
    kind: ErrorKind = ErrorKind.CONFIG_INVALID

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class IdentityError(JobError):
    """A client identity that cannot be loaded or does not fit together."""

    kind = ErrorKind.IDENTITY_INVALID


class TruststoreError(JobError):
    """A truststore that cannot be loaded or contains no certificate."""

    kind = ErrorKind.TRUSTSTORE_INVALID


class JobConfigError(JobError):
    """A job whose settings cannot be resolved at run time."""

    kind = ErrorKind.CONFIG_INVALID
