"""The files that identities and truststores are read from, and a cheap change check.

A FileSignature contains each file's path, size, modification time (ns) and
inode, so both an edit in place and a replacement by rename change it. Reading it costs
one ``stat`` per file and needs no file contents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runner.config.loader import Defined
from runner.config.models import Identity, SecretRef, Truststore
from runner.tls.truststore import system_store_locations

FileSignature = tuple[tuple[str, int, int, int], ...]
_MISSING = (-1, -1, -1)


@dataclass(frozen=True)
class Source:
    """A file or folder that key material is read from."""

    path: Path
    # Stat every entry of a folder, not only the folder. The system store's
    # folders hold hundreds of links that update-ca-certificates replaces, which
    # changes the folder's own modification time, so its entries are not listed.
    list_folder: bool = True


def identity_sources(defined: Defined[Identity]) -> list[Source]:
    """Return the files of an identity, its password file included."""
    model = defined.model
    names = [model.pkcs12] if model.pkcs12 else [model.certificate, model.key]
    names += model.chain
    sources = [Source(defined.path(name)) for name in names if name is not None]
    return sources + _password_file(defined, model.password)


def truststore_sources(defined: Defined[Truststore] | None) -> list[Source]:
    """Return the files and folders of a truststore; None is the system store."""
    if defined is None:
        return _system_sources()
    model = defined.model
    sources = [Source(defined.path(name)) for name in model.certificates]
    if model.pkcs12 is not None:
        sources.append(Source(defined.path(model.pkcs12)))
        sources += _password_file(defined, model.password)
    if model.system:
        sources += _system_sources()
    return sources


def file_signature(sources: list[Source]) -> FileSignature:
    """Stat every source (and the entries of listed folders); missing files count."""
    entries: list[tuple[str, int, int, int]] = []
    for source in sources:
        entries.append(_stat(source.path))
        if source.list_folder and source.path.is_dir():
            try:
                names = sorted(os.listdir(source.path))
            except OSError:
                continue
            entries.extend(_stat(source.path / name) for name in names)
    return tuple(entries)


def _stat(path: Path) -> tuple[str, int, int, int]:
    try:
        info = path.stat()
    except OSError:
        return (str(path), *_MISSING)
    return (str(path), info.st_size, info.st_mtime_ns, info.st_ino)


def _password_file(
    defined: Defined[Identity] | Defined[Truststore], password: object
) -> list[Source]:
    if isinstance(password, SecretRef) and password.file is not None:
        return [Source(defined.path(password.file))]
    return []


def _system_sources() -> list[Source]:
    cafile, capaths = system_store_locations()
    sources = [Source(cafile, list_folder=False)] if cafile else []
    return sources + [Source(path, list_folder=False) for path in capaths]
