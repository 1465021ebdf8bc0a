"""``run --once`` end to end: records, error kinds, exit codes and isolation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.integration.calls import one_call_job
from tests.integration.calls import run_one as run_one_call
from tests.nginx import NginxServer, free_port

RECORD_FIELDS = {
    "time", "job", "endpoint", "method", "url", "attempt", "ok", "status",
    "duration_ms", "timings_ms", "tls", "identity", "response_headers", "body",
    "body_bytes", "error",
}  # fmt: skip
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE")


def job_text(pki: Pki, url: str, identity: str | None = "client", **job: str) -> str:
    """Build a one-job file that calls ``url`` with the named test identity."""
    lines = ["version: 1", "identities:"]
    for name in ("client", "client-expired", "client-foreign", "client-rsa"):
        lines += [
            f"  {name}:",
            f"    certificate: {pki.path(name + '-cert.pem')}",
            f"    key: {pki.path(name + '-key.pem')}",
        ]
    lines += [
        "truststores:",
        f"  test-ca: {{certificates: [{pki.path('ca.pem')}]}}",
        "jobs:",
        "  probe:",
        "    truststore: test-ca",
    ]
    if identity:
        lines.append(f"    identity: {identity}")
    lines += [f"    {key}: {value}" for key, value in job.items()]
    lines += ["    endpoints:", f"      - url: {url}"]
    return "\n".join(lines) + "\n"


def run_one(
    run_cli: Callable[..., CliResult], write_job: Callable[..., Path], text: str
) -> tuple[CliResult, dict[str, object]]:
    result = run_cli("run", "--once", "--json", str(write_job(text)))
    assert len(result.records) == 1, result.stderr
    return result, result.records[0]


def error_kind(record: dict[str, object]) -> object:
    error = record["error"]
    assert isinstance(error, dict)
    return error["kind"]


@pytest.fixture
def silent_peer() -> Iterator[int]:
    """Start a TCP listener on 127.0.0.1 that accepts connections and sends nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


# --- records and the positive path ---------------------------------------------


@pytest.mark.nginx
def test_record_has_contract_fields(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = nginx()
    result, record = run_one(run_cli, write_job, job_text(pki, server.url("/whoami")))
    assert set(record) == RECORD_FIELDS
    assert record["ok"] is True
    assert record["status"] == 200
    assert record["body"] == "CN=client-ec,O=mtls-runner\n"
    assert result.code == 0


@pytest.mark.nginx
def test_record_tls_and_identity_facts(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = nginx()
    _, record = run_one(run_cli, write_job, job_text(pki, server.url("/whoami")))
    tls = record["tls"]
    identity = record["identity"]
    assert isinstance(tls, dict)
    assert isinstance(identity, dict)
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["subject"] == "CN=localhost,O=mtls-runner"
    assert identity["name"] == "client"
    assert identity["subject"] == "CN=client-ec,O=mtls-runner"
    assert len(str(identity["sha256"]).split(":")) == 32


@pytest.mark.nginx
def test_no_certificate_at_nginx_is_certificate_required(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = nginx()
    text = job_text(pki, server.url("/whoami"), identity=None)
    result, record = run_one(run_cli, write_job, text)
    assert error_kind(record) == "client_certificate_required"
    assert record["status"] == 400
    assert result.code == 1


@pytest.mark.nginx
@pytest.mark.parametrize("identity", ["client-foreign", "client-expired"])
def test_rejected_certificate_at_nginx(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    identity: str,
) -> None:
    server = nginx()
    text = job_text(pki, server.url("/whoami"), identity=identity)
    _, record = run_one(run_cli, write_job, text)
    assert error_kind(record) == "client_certificate_rejected"


@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
@pytest.mark.parametrize(
    ("identity", "kind"),
    [
        ("client", None),
        (None, "client_certificate_required"),
        ("client-foreign", "client_certificate_rejected"),
        ("client-expired", "client_certificate_rejected"),
    ],
)
def test_python_server_outcomes(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    tls_version: str,
    identity: str | None,
    kind: str | None,
) -> None:
    server = mtls_server(tls_version=tls_version)
    text = job_text(pki, server.url("/whoami"), identity=identity)
    _, record = run_one(run_cli, write_job, text)
    assert (record["error"] or {}).get("kind") == kind  # type: ignore[attr-defined]


def test_untrusted_server_certificate(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server(server="server_untrusted")
    _, record = run_one(run_cli, write_job, job_text(pki, server.url("/whoami")))
    assert error_kind(record) == "server_certificate_untrusted"


def test_hostname_mismatch(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server(server="server_wrong_name")
    _, record = run_one(run_cli, write_job, job_text(pki, server.url("/whoami")))
    assert error_kind(record) == "hostname_mismatch"


def test_resolve_keeps_host_name_verification(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    url = f"https://api.partner.test:{server.port}/whoami"
    text = job_text(pki, url, resolve="{api.partner.test: 127.0.0.1}")
    _, record = run_one(run_cli, write_job, text)
    assert error_kind(record) == "hostname_mismatch"


def test_resolve_reaches_the_named_host(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    url = f"https://localhost:{server.port}/whoami"
    text = job_text(pki, url, resolve="{localhost: 127.0.0.1}")
    _, record = run_one(run_cli, write_job, text)
    assert record["ok"] is True


def test_connection_refused(
    pki: Pki, run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> None:
    url = f"https://127.0.0.1:{free_port()}/health"
    _, record = run_one(run_cli, write_job, job_text(pki, url))
    assert error_kind(record) == "connection_failed"


def test_silent_peer_times_out(
    silent_peer: int,
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    url = f"https://127.0.0.1:{silent_peer}/health"
    _, record = run_one(run_cli, write_job, job_text(pki, url, timeout="700ms"))
    assert error_kind(record) == "timeout"
    assert "handshake did not finish" in str(record["error"])


def test_unexpected_status(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    _, record = run_one(run_cli, write_job, job_text(pki, server.url("/status/503")))
    assert error_kind(record) == "unexpected_response"
    assert "expected status 2xx, got 503" in str(record["error"])


# --- truststore exclusivity -----------------------------------------------------


@pytest.mark.parametrize("environment", ["set", "unset"])
def test_environment_never_widens_a_private_truststore(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    environment: str,
) -> None:
    """The server's CA sits in every CA variable, but not in the job's truststore."""
    bundle = tmp_path / "env-bundle.pem"
    bundle.write_bytes(pki.other_ca.certificate_pem())
    for variable in CA_VARIABLES:
        if environment == "set":
            value = str(tmp_path) if variable == "SSL_CERT_DIR" else str(bundle)
            monkeypatch.setenv(variable, value)
        else:
            monkeypatch.delenv(variable, raising=False)
    untrusted = mtls_server(server="server_untrusted")
    trusted = mtls_server()
    _, rejected = run_one(run_cli, write_job, job_text(pki, untrusted.url("/health")))
    _, accepted = run_one(run_cli, write_job, job_text(pki, trusted.url("/health")))
    assert error_kind(rejected) == "server_certificate_untrusted"
    assert accepted["ok"] is True


# --- isolation, selection, exit codes ---------------------------------------------


def test_broken_job_does_not_stop_others(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    text = job_text(pki, server.url("/health")) + (
        "  broken:\n"
        "    identity: missing-files\n"
        "    endpoints:\n"
        f"      - url: {server.url('/health')}\n"
        "  needs-variable:\n"
        "    identity: client\n"
        "    truststore: test-ca\n"
        "    endpoints:\n"
        f"      - url: {server.url('/health')}?tag=${{UNSET_VARIABLE_FOR_TEST}}\n"
    )
    text = text.replace(
        "identities:\n",
        "identities:\n  missing-files:\n    certificate: /nonexistent/cert.pem\n"
        "    key: /nonexistent/key.pem\n",
    )
    result = run_cli("run", "--once", "--json", str(write_job(text)))
    by_job = {r["job"]: r for r in result.records}
    assert by_job["probe"]["ok"] is True
    assert by_job["broken"]["error"]["kind"] == "identity_invalid"
    assert by_job["needs-variable"]["error"]["kind"] == "config_invalid"
    assert "UNSET_VARIABLE_FOR_TEST" in by_job["needs-variable"]["error"]["message"]
    assert result.code == 1


def test_job_option_selects_jobs(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    text = job_text(pki, server.url("/health")) + (
        "  other:\n    truststore: test-ca\n    endpoints:\n"
        f"      - url: {server.url('/status/500')}\n"
    )
    result = run_cli("run", "--once", "--json", "--job", "probe", str(write_job(text)))
    assert [r["job"] for r in result.records] == ["probe"]
    assert result.code == 0


def test_unknown_job_name_is_a_usage_error(
    pki: Pki, run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> None:
    path = write_job(job_text(pki, "https://127.0.0.1:1/"))
    result = run_cli("run", "--once", "--job", "nope", str(path))
    assert result.code == 2
    assert "no job named nope" in result.stderr


@pytest.mark.parametrize("limit", ["16777217", "3000000000"])
def test_body_limit_above_16_mib_is_usage_error(
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    limit: str,
) -> None:
    path = write_job(job_text(pki, "https://127.0.0.1:1/"))
    with pytest.raises(SystemExit) as stopped:
        run_cli("run", "--once", "--body-limit", limit, str(path))
    assert stopped.value.code == 2


def test_body_limit_of_16_mib_is_accepted(
    pki: Pki, run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> None:
    path = write_job(job_text(pki, "https://127.0.0.1:1/"))
    result = run_cli("run", "--dry-run", "--body-limit", "16777216", str(path))
    assert result.code == 0


def test_invalid_file_exits_2_with_location(
    run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> None:
    path = write_job(
        "version: 1\njobs:\n  x:\n    endpoints:\n      - url: http://a/\n"
    )
    result = run_cli("run", "--once", str(path))
    assert result.code == 2
    assert f"{path}:5:14: error:" in result.stderr


def test_missing_path_exits_2(
    run_cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    result = run_cli("run", "--once", str(tmp_path / "absent.yaml"))
    assert result.code == 2
    assert "no such file or folder" in result.stderr


def test_file_without_jobs_exits_2(
    run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> None:
    result = run_cli("run", "--once", str(write_job("version: 1\n")))
    assert result.code == 2
    assert "needs at least one job" in result.stderr


def test_readable_lines_go_to_stderr(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    text = job_text(pki, server.url("/health"), identity=None)
    result = run_cli("run", "--once", str(write_job(text)))
    assert result.stdout == ""
    assert "FAIL probe/GET /health" in result.stderr
    assert "hint: add 'identity: NAME' to the job" in result.stderr


def test_response_log_appends(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/health")))
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "responses.jsonl"
    run_cli("run", "--once", "--response-log", str(log), str(path))
    run_cli("run", "--once", "--response-log", str(log), str(path))
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert all(json.loads(line)["ok"] for line in lines)


def test_run_creates_no_files(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    tmp_path: Path,
    write_job: Callable[..., Path],
) -> None:
    """Keys stay in memory: a run leaves TMPDIR and the job folder untouched."""
    server = mtls_server()
    job_folder = tmp_path / "jobs"
    path = job_folder / "job.yaml"
    job_folder.mkdir()
    path.write_text(job_text(pki, server.url("/health")))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = sorted(job_folder.rglob("*"))
    environment = {**os.environ, "TMPDIR": str(scratch), "HOME": str(scratch)}
    completed = subprocess.run(
        [sys.executable, "-m", "runner", "run", "--once", str(path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert list(scratch.iterdir()) == []
    assert sorted(job_folder.rglob("*")) == before


@pytest.mark.parametrize("limit", ["1KiB", "4096", "16MiB"])
def test_body_limit_takes_sizes(
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    limit: str,
) -> None:
    path = write_job(job_text(pki, "https://127.0.0.1:1/"))
    result = run_cli("run", "--dry-run", "--body-limit", limit, str(path))
    assert result.code == 0, result.stderr


def test_body_limit_in_kib_cuts_body(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/bytes/5000")))
    result = run_cli("run", "--once", "--json", "--body-limit", "1KiB", str(path))
    record = result.records[0]
    assert len(record["body"]) == 1024
    assert record["body_bytes"] == 5000


@pytest.mark.parametrize("limit", ["17MiB", "0", "lots"])
def test_body_limit_rejects_bad_sizes(
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    limit: str,
) -> None:
    path = write_job(job_text(pki, "https://127.0.0.1:1/"))
    with pytest.raises(SystemExit) as stopped:
        run_cli("run", "--once", "--body-limit", limit, str(path))
    assert stopped.value.code == 2
    assert "--body-limit" in capsys.readouterr().err


# --- identity of the record: the certificate presented ----------------------------


def test_refused_connection_presents_no_identity(
    pki: Pki, run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> None:
    url = f"https://127.0.0.1:{free_port()}/health"
    result, record = run_one(run_cli, write_job, job_text(pki, url))
    assert record["tls"] is None
    assert record["identity"] is None
    assert " as CN=" not in result.stderr


def test_silent_peer_presents_no_identity(
    silent_peer: int,
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    url = f"https://127.0.0.1:{silent_peer}/health"
    text = job_text(pki, url, timeout="500ms")
    result, record = run_one(run_cli, write_job, text)
    assert record["tls"] is None
    assert record["identity"] is None
    assert " as CN=" not in result.stderr


def test_rejected_certificate_keeps_identity(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    # Control: the handshake got as far as the server's certificate, so the
    # client certificate was offered and the record names it.
    server = mtls_server()
    text = job_text(pki, server.url("/health"), identity="client-foreign")
    result, record = run_one(run_cli, write_job, text)
    identity = record["identity"]
    assert record["tls"] is not None
    assert isinstance(identity, dict)
    assert identity["subject"] == "CN=client-foreign,O=mtls-runner"
    assert " as CN=client-foreign,O=mtls-runner" in result.stderr


# --- console lines ------------------------------------------------------------------


@pytest.mark.nginx
def test_fast_calls_show_tenths_of_milliseconds(
    nginx: Callable[..., NginxServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server = nginx()
    text = job_text(pki, server.url("/health")) + "".join(
        f"      - url: {server.url(f'/path-{number}')}\n" for number in range(4)
    )
    # One call at a time, so the later calls reuse the first one's connection.
    path = str(write_job(text))
    result = run_cli("run", "--once", "--json", "--concurrency", "1", path)
    durations = [record["duration_ms"] for record in result.records]
    fast = [duration for duration in durations if duration < 10]
    if not fast:
        pytest.skip(f"no call took under 10 ms on this machine: {durations}")
    for duration in fast:
        assert f"  {duration:.1f} ms" in result.stderr, result.stderr


# --- private keys in a truststore folder -------------------------------------------


@pytest.mark.parametrize("key_name", ["client-key-enc.pem", "client-key-enc.der"])
def test_truststore_folder_with_encrypted_key(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    tmp_path: Path,
    key_name: str,
) -> None:
    # The folder holds the CA and an encrypted client key, with no password
    # anywhere: the key must be passed over, not decrypted.
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(pki.ca.certificate_pem())
    encrypted = (
        pki.client.key_pem(b"pass-word")
        if key_name.endswith(".pem")
        else pki.client.key_der(b"pass-word")
    )
    (folder / key_name).write_bytes(encrypted)
    server = mtls_server()
    text = one_call_job(
        pki, server.url("/whoami"), identity="client", truststore=str(folder)
    )
    _, record = run_one_call(run_cli, write_job, text)
    assert record["error"] is None
    assert record["ok"] is True
