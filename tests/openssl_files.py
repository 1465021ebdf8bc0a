"""Key material files that only the openssl command line writes, for tests.

cryptography writes neither RC2-encrypted PKCS#12 files nor DES-encrypted keys,
which older tools produce. Each function skips the test when openssl is missing
or cannot write the file (OpenSSL 3 needs its legacy provider for both).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Pki


def legacy_pkcs12(pki: Pki, folder: Path, password: str) -> Path:
    """Write the test client as an RC2-encrypted PKCS#12 file."""
    path = folder / "legacy.p12"
    _openssl(
        "pkcs12", "-export", "-legacy",
        "-in", str(pki.path("client-cert.pem")),
        "-inkey", str(pki.path("client-key.pem")),
        "-out", str(path), "-passout", f"pass:{password}",
    )  # fmt: skip
    return path


def des_encrypted_key(pki: Pki, folder: Path, password: str) -> Path:
    """Write the test client's key as PKCS#8 PEM encrypted with single DES."""
    path = folder / "client-key-des.pem"
    _openssl(
        "pkcs8", "-topk8", "-provider", "legacy", "-provider", "default",
        "-in", str(pki.path("client-key.pem")), "-v1", "PBE-MD5-DES",
        "-passout", f"pass:{password}", "-out", str(path),
    )  # fmt: skip
    return path


def _openssl(*arguments: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    completed = subprocess.run([openssl, *arguments], capture_output=True)
    if completed.returncode != 0:
        pytest.skip(f"openssl {arguments[0]} failed: {completed.stderr[:200]!r}")
