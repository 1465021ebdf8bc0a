"""Write one-endpoint job files for the test PKI and run them through the CLI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.conftest import CliResult, Pki


def one_call_job(
    pki: Pki,
    url: str,
    *,
    identity: str | None = None,
    chain: Sequence[str] = (),
    truststore: str | None = "ca.pem",
    job_options: Sequence[str] = (),
    expect: str | None = None,
) -> str:
    """Return job file text for one GET of ``url``.

    ``identity`` is the stem of a PKI client ("client-expired" for
    client-expired-cert.pem and client-expired-key.pem); ``chain`` and
    ``truststore`` name files in the PKI folder. Without ``truststore`` the job
    uses the operating system's store.
    """
    lines = ["version: 1"]
    if identity is not None:
        lines += [
            "identities:",
            "  me:",
            f"    certificate: {pki.path(identity + '-cert.pem')}",
            f"    key: {pki.path(identity + '-key.pem')}",
        ]
        if chain:
            files = ", ".join(str(pki.path(name)) for name in chain)
            lines.append(f"    chain: [{files}]")
    if truststore is not None:
        lines += [
            "truststores:",
            "  private:",
            f"    certificates: [{pki.path(truststore)}]",
        ]
    lines += ["jobs:", "  probe:", "    timeout: 5s"]
    if truststore is not None:
        lines.append("    truststore: private")
    if identity is not None:
        lines.append("    identity: me")
    lines += [f"    {option}" for option in job_options]
    lines += ["    endpoints:", f"      - url: {url}"]
    if expect is not None:
        lines.append(f"        expect: {expect}")
    return "\n".join(lines) + "\n"


def run_one(
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    text: str,
) -> tuple[CliResult, dict[str, Any]]:
    """Run a one-endpoint job with ``run --once --json``; return its only record."""
    path = write_job(text)
    result = run_cli("run", "--once", "--json", str(path))
    records = result.records
    assert len(records) == 1, result.stderr
    return result, records[0]
