"""Resolve the passwords of identities and truststores at run time.

A secret is ``{env: NAME}``, ``{file: PATH}`` (one trailing newline stripped) or a
literal string. Values are returned to the caller and never logged or shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from runner.config.loader import expand_user
from runner.config.models import SecretRef
from runner.errors import JobError

MAX_SECRET_FILE_BYTES = 64 * 1024


def resolve_secret(
    secret: str | SecretRef | None,
    base_dir: Path,
    owner: str,
    error_class: type[JobError],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Return the secret's value; raise ``error_class`` naming its source, not it."""
    if secret is None or isinstance(secret, str):
        return secret
    env = os.environ if environ is None else environ
    if secret.env is not None:
        if secret.env not in env:
            raise error_class(
                f"{owner}: password variable {secret.env} is not set",
                f"export {secret.env} in the environment that runs mtls-runner",
            )
        return env[secret.env]
    path = secret_file_path(secret, base_dir)
    try:
        if path.exists() and not path.is_file():
            raise error_class(
                f"{owner}: password file {path} is not a regular file",
                "point 'password: {file: ...}' at a file that holds only the password",
            )
        with path.open("rb") as stream:
            raw = stream.read(MAX_SECRET_FILE_BYTES + 1)
        if len(raw) > MAX_SECRET_FILE_BYTES:
            raise error_class(
                f"{owner}: password file {path} is larger than "
                f"{MAX_SECRET_FILE_BYTES} bytes",
                "point 'password: {file: ...}' at a file that holds only the password",
            )
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise error_class(
            f"{owner}: password file {path} not found",
            "create the file or fix the path in 'password: {file: ...}'",
        ) from None
    except UnicodeDecodeError as e:
        raise error_class(
            f"{owner}: password file {path} is not UTF-8 text (invalid byte "
            f"0x{e.object[e.start]:02x} at offset {e.start})",
            "save the password as UTF-8 text, for example with 'iconv -f UTF-16 "
            "-t UTF-8' or 'iconv -f LATIN1 -t UTF-8'",
        ) from None
    except (OSError, ValueError) as e:
        # A ValueError here is an invalid path, such as one with a NUL character.
        reason = e.strerror if isinstance(e, OSError) else "invalid path"
        raise error_class(
            f"{owner}: cannot read password file {path}: {reason}",
            "let the user that runs mtls-runner read the file",
        ) from None
    return text.removesuffix("\n").removesuffix("\r")


def secret_file_path(secret: SecretRef, base_dir: Path) -> Path:
    """Return the path of a ``{file: PATH}`` secret, relative to ``base_dir``."""
    assert secret.file is not None
    path = expand_user(secret.file)
    return path if path.is_absolute() else base_dir / path


def secret_unavailable(
    secret: str | SecretRef | None,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Return whether the secret's variable is unset or its file does not exist.

    That is the usual state where secrets are kept out of CI; any other problem
    with the secret is an error wherever the runner runs.
    """
    if not isinstance(secret, SecretRef):
        return False
    if secret.env is not None:
        return secret.env not in (os.environ if environ is None else environ)
    path = secret_file_path(secret, base_dir)
    try:
        return not path.exists() and not path.is_symlink()
    except (OSError, ValueError):
        return False
