"""``run --dry-run``: its output, its exit codes, and that it opens no connection."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.demo.server import MtlsServer
from tests.conftest import CliResult, Pki
from tests.openssl_files import des_encrypted_key, legacy_pkcs12


def job_text(pki: Pki, url: str, *extra: str, identity: str = "client") -> str:
    lines = [
        "version: 1",
        "identities:",
        "  client:",
        f"    certificate: {pki.path('client-cert.pem')}",
        f"    key: {pki.path('client-key.pem')}",
        "  missing:",
        f"    certificate: {pki.path('no-such-cert.pem')}",
        f"    key: {pki.path('client-key.pem')}",
        "truststores:",
        f"  test-ca: {{certificates: [{pki.path('ca.pem')}]}}",
        "jobs:",
        "  probe:",
        f"    identity: {identity}",
        "    truststore: test-ca",
        "    schedule: every 30s",
        "    resolve: {localhost: 127.0.0.1}",
        *extra,
        "    endpoints:",
        f"      - url: {url}",
        "        headers: {Authorization: 'Bearer ${API_TOKEN}'}",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def env_token(monkeypatch: pytest.MonkeyPatch) -> str:
    token = "s3cr3t-token-value"
    monkeypatch.setenv("API_TOKEN", token)
    return token


@pytest.fixture
def dry(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    env_token: str,
) -> tuple[MtlsServer, CliResult]:
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/whoami")))
    return server, run_cli("run", "--dry-run", str(path))


def test_dry_run_opens_no_connection(dry: tuple[MtlsServer, CliResult]) -> None:
    server, _ = dry
    assert server.stats.connections == 0


def test_real_run_of_same_file_connects(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    env_token: str,
) -> None:
    # Negative control: the connection counter counts a real run of the same file.
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/whoami")))
    result = run_cli("run", "--once", str(path))
    assert result.code == 0, result.stderr
    assert server.stats.connections >= 1


def test_dry_run_exits_zero(dry: tuple[MtlsServer, CliResult]) -> None:
    _, result = dry
    assert result.code == 0, result.stdout + result.stderr


def test_dry_run_shows_schedule_and_next_runs(
    dry: tuple[MtlsServer, CliResult],
) -> None:
    _, result = dry
    assert "schedule: every 30s" in result.stdout
    assert "(at start)" in result.stdout


def test_dry_run_shows_identity(dry: tuple[MtlsServer, CliResult], pki: Pki) -> None:
    _, result = dry
    from runner.tls.certinfo import fingerprint

    assert "subject:   CN=client-ec,O=mtls-runner" in result.stdout
    assert "issuer:    CN=test root CA,O=mtls-runner" in result.stdout
    assert f"SHA-256:   {fingerprint(pki.client.certificate)}" in result.stdout


def test_dry_run_identity_matches_real_run(
    dry: tuple[MtlsServer, CliResult],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    server, result = dry
    path = write_job(job_text(pki, server.url("/whoami")))
    record = run_cli("run", "--once", "--json", str(path)).records[0]
    assert f"SHA-256:   {record['identity']['sha256']}" in result.stdout


def test_dry_run_lists_truststore_subjects(dry: tuple[MtlsServer, CliResult]) -> None:
    _, result = dry
    assert "truststore 'test-ca': 1 certificate\n" in result.stdout
    assert "    CN=test root CA,O=mtls-runner\n" in result.stdout


def test_dry_run_redacts_secrets(
    dry: tuple[MtlsServer, CliResult], env_token: str
) -> None:
    _, result = dry
    assert env_token not in result.stdout + result.stderr
    assert "Authorization: REDACTED" in result.stdout


def test_dry_run_prints_curl_with_file_paths(
    dry: tuple[MtlsServer, CliResult], pki: Pki
) -> None:
    _, result = dry
    assert f"--cert {pki.path('client-cert.pem')}" in result.stdout
    assert f"--key {pki.path('client-key.pem')}" in result.stdout
    assert f"--cacert {pki.path('ca.pem')}" in result.stdout


def test_dry_run_curl_has_resolve_and_timeout(
    dry: tuple[MtlsServer, CliResult],
) -> None:
    server, result = dry
    assert f"--resolve localhost:{server.port}:127.0.0.1" in result.stdout
    assert "--max-time 30" in result.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_printed_curl_command_reproduces_the_call(
    dry: tuple[MtlsServer, CliResult],
) -> None:
    server, result = dry
    command = curl_lines(result.stdout).replace("REDACTED", "test")
    completed = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30
    )
    assert completed.returncode == 0, completed.stderr
    assert '"subject": "CN=client-ec,O=mtls-runner"' in completed.stdout


def curl_lines(output: str) -> str:
    """Return the first curl command of a dry run's output as one shell line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("curl"))
    command = []
    for line in lines[start:]:
        command.append(line.strip().removesuffix("\\"))
        if not line.endswith("\\"):
            break
    return " ".join(command)


def test_dry_run_of_unloadable_identity_exits_one(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    env_token: str,
) -> None:
    server = mtls_server()
    path = write_job(job_text(pki, server.url("/"), identity="missing"))
    result = run_cli("run", "--dry-run", str(path))
    assert result.code == 1
    assert "cannot start: identity_invalid" in result.stdout
    assert "'probe' would fail to start" in result.stdout


def test_dry_run_of_missing_variable_exits_one(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("API_TOKEN", raising=False)
    server = mtls_server()
    result = run_cli("run", "--dry-run", str(write_job(job_text(pki, server.url("/")))))
    assert result.code == 1
    assert "variable API_TOKEN used in header Authorization is not set" in result.stdout


def test_dry_run_of_invalid_file_exits_two(
    pki: Pki, run_cli: Callable[..., CliResult], write_job: Callable[..., Path]
) -> None:
    text = job_text(pki, "https://localhost/", "    schedule_typo: every 5s")
    result = run_cli("run", "--dry-run", str(write_job(text)))
    assert result.code == 2
    assert "schedule_typo" in result.stderr


def test_dry_run_shows_time_zone_of_at_time(
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    env_token: str,
) -> None:
    text = job_text(pki, "https://localhost/").replace(
        "every 30s", "every day at 02:30 Asia/Tokyo"
    )
    result = run_cli("run", "--dry-run", str(write_job(text)))
    assert "T02:30:00+09:00" in result.stdout


def test_dry_run_marks_unscheduled_job(
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    env_token: str,
) -> None:
    text = job_text(pki, "https://localhost/").replace("    schedule: every 30s\n", "")
    result = run_cli("run", "--dry-run", str(write_job(text)))
    assert "schedule: none, so the service skips this job" in result.stdout


# --- printed commands work when pasted into a shell ---------------------------------
# These run the system's curl and openssl (curl 7.88.1 on OpenSSL 3.0 when they
# were written) in a fresh folder, as a person would paste them.

needs_curl_and_openssl = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("openssl") is None,
    reason="curl or openssl is not installed",
)


def note_commands(output: str) -> list[str]:
    """Return the shell commands that the notes under the first curl command give."""
    return [
        line.split("with: ", 1)[1]
        for line in output.splitlines()
        if line.strip().startswith("# ") and "with: openssl" in line
    ]


def paste(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with bash in ``folder``, with this process's environment."""
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=30, cwd=folder
    )


def identity_job(pki: Pki, url: str, identity: list[str]) -> str:
    lines = [
        "version: 1",
        "identities:",
        "  client:",
        *[f"    {line}" for line in identity],
        "truststores:",
        f"  test-ca: {{certificates: [{pki.path('ca.pem')}]}}",
        "jobs:",
        "  probe:",
        "    identity: client",
        "    truststore: test-ca",
        "    endpoints:",
        f"      - url: {url}",
    ]
    return "\n".join(lines) + "\n"


@needs_curl_and_openssl
def test_encrypted_der_key_command_works(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = pki.write("client-key-enc.der", pki.client.key_der(b"pass-word"))
    server = mtls_server()
    text = identity_job(
        pki,
        server.url("/whoami"),
        [
            f"certificate: {pki.path('client-cert.pem')}",
            f"key: {key}",
            "password: {env: DRY_KEY_PASS}",
        ],
    )
    monkeypatch.setenv("DRY_KEY_PASS", "pass-word")
    result = run_cli("run", "--dry-run", str(write_job(text)))
    (conversion,) = note_commands(result.stdout)
    folder = tmp_path / "shell"
    folder.mkdir()
    completed = paste(f"{conversion}\n{curl_lines(result.stdout)}", folder)
    assert completed.returncode == 0, completed.stderr
    assert '"subject": "CN=client-ec,O=mtls-runner"' in completed.stdout


@needs_curl_and_openssl
def test_encrypted_der_key_fails_in_curl_directly(
    mtls_server: Callable[..., MtlsServer], pki: Pki, tmp_path: Path
) -> None:
    # Control: the command the dry run printed before, which curl on OpenSSL 3
    # rejects. It shows why the conversion note exists.
    key = pki.write("client-key-enc.der", pki.client.key_der(b"pass-word"))
    server = mtls_server()
    completed = paste(
        f"curl --cert {pki.path('client-cert.pem')} --key-type DER --key {key} "
        f"--pass pass-word --cacert {pki.path('ca.pem')} {server.url('/whoami')}",
        tmp_path,
    )
    assert completed.returncode == 58, completed.stderr


@needs_curl_and_openssl
def test_des_key_command_works(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = des_encrypted_key(pki, tmp_path, "pass-word")
    server = mtls_server()
    text = identity_job(
        pki,
        server.url("/whoami"),
        [
            f"certificate: {pki.path('client-cert.pem')}",
            f"key: {key}",
            "password: {env: DRY_KEY_PASS}",
        ],
    )
    monkeypatch.setenv("DRY_KEY_PASS", "pass-word")
    result = run_cli("run", "--dry-run", str(write_job(text)))
    (conversion,) = note_commands(result.stdout)
    folder = tmp_path / "shell"
    folder.mkdir()
    completed = paste(f"{conversion}\n{curl_lines(result.stdout)}", folder)
    assert completed.returncode == 0, completed.stderr
    assert '"subject": "CN=client-ec,O=mtls-runner"' in completed.stdout


@needs_curl_and_openssl
def test_rc2_pkcs12_command_works(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    tmp_path: Path,
) -> None:
    path = legacy_pkcs12(pki, tmp_path, "pass-word")
    secret = tmp_path / "p12-password"
    secret.write_text("pass-word\n")
    server = mtls_server()
    text = identity_job(
        pki, server.url("/whoami"), [f"pkcs12: {path}", f"password: {{file: {secret}}}"]
    )
    result = run_cli("run", "--dry-run", str(write_job(text)))
    (conversion,) = note_commands(result.stdout)
    folder = tmp_path / "shell"
    folder.mkdir()
    completed = paste(f"{conversion}\n{curl_lines(result.stdout)}", folder)
    assert completed.returncode == 0, completed.stderr
    assert '"subject": "CN=client-ec,O=mtls-runner"' in completed.stdout


@needs_curl_and_openssl
def test_rc2_pkcs12_fails_in_curl_directly(
    mtls_server: Callable[..., MtlsServer], pki: Pki, tmp_path: Path
) -> None:
    # Control: curl on OpenSSL 3 cannot read the RC2 file itself.
    path = legacy_pkcs12(pki, tmp_path, "pass-word")
    server = mtls_server()
    completed = paste(
        f"curl --cert-type P12 --cert {path} --pass pass-word "
        f"--cacert {pki.path('ca.pem')} {server.url('/whoami')}",
        tmp_path,
    )
    assert completed.returncode == 58, completed.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_header_from_variable_reaches_server(
    mtls_server: Callable[..., MtlsServer],
    pki: Pki,
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
    env_token: str,
    tmp_path: Path,
) -> None:
    server = mtls_server()
    result = run_cli(
        "run", "--dry-run", str(write_job(job_text(pki, server.url("/echo"))))
    )
    completed = paste(curl_lines(result.stdout), tmp_path)
    assert completed.returncode == 0, completed.stderr
    headers = json.loads(completed.stdout)["headers"]
    assert headers["Authorization"] == f"Bearer {env_token}"


def test_dry_run_header_names_curl_needs(dry: tuple[MtlsServer, CliResult]) -> None:
    _, result = dry
    assert result.stdout.startswith("dry run: every job is loaded and planned")
    assert "for a curl built on OpenSSL" in result.stdout
    assert "Its paths are absolute" in result.stdout
