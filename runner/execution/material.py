"""Loaded identities and truststores, kept per configuration and reloaded on change.

Each identity and truststore is loaded once per configuration, however many jobs
use it, and a load that fails is kept as the error that stops its jobs. Before
each run the service calls ``reload_changed``, which checks the files on disk.
Changed files that load are used from then on. Changed files that fail to load,
such as a new certificate whose new key has not been renamed in yet, leave the
last good material in use, and every run reports the failure until a retry
succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from runner.config.loader import Config, Defined
from runner.config.models import Job
from runner.errors import JobError
from runner.execution.sources import (
    FileSignature,
    Source,
    file_signature,
    identity_sources,
    truststore_sources,
)
from runner.tls.identity import LoadedIdentity, load_identity
from runner.tls.truststore import (
    SYSTEM_NAME,
    LoadedTruststore,
    load_system_truststore,
    load_truststore,
)

T = TypeVar("T")
Loaded = LoadedIdentity | LoadedTruststore
# ("identity", NAME), or ("truststore", NAME) with None for the system store.
_Key = tuple[Literal["identity", "truststore"], str | None]

# Seconds between two checks of the same key material files for changes.
CHECK_INTERVAL_S = 0.5


@dataclass(frozen=True)
class MaterialReload:
    """The outcome of ``reload_changed`` for one identity's or truststore's files.

    ``error`` is None when changed files were loaded again. Otherwise the files
    failed to load, ``kept`` names the material still in use, and the load is
    retried before the next run.
    """

    subject: str  # "identity 'NAME'" or "truststore 'NAME'"
    files: tuple[str, ...]
    error: JobError | None = None
    kept: str = ""


@dataclass
class _Entry:
    """One identity or truststore: what its calls use, and its files' state."""

    value: Loaded | JobError
    sources: list[Source]
    signature: FileSignature  # taken before the files were read
    checked: float
    generation: int
    # The last load of changed files failed; ``value`` is the last good one.
    failure: JobError | None = None


class KeyMaterial:
    """Load identities and truststores on first use and keep them, errors included.

    Each entry remembers the size, modification time and inode of the files it
    was read from. ``reload_changed`` compares them with the files on disk at
    most every ``check_interval`` seconds, so a burst of jobs that share an
    identity costs one ``stat`` per file. ``previous`` is the KeyMaterial of the
    configuration that a reload replaces: an identity or truststore whose
    definition did not change keeps its last good material from there when its
    files fail to load now.
    """

    def __init__(
        self,
        config: Config,
        check_interval: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        previous: KeyMaterial | None = None,
    ) -> None:
        self.config = config
        self.check_interval = check_interval
        self.clock = clock
        self._entries: dict[_Key, _Entry] = {}
        self._previous = previous

    def release_previous(self) -> None:
        """Drop the previous configuration's material, once every job is planned.

        Without this, each reload would keep every earlier configuration alive.
        """
        self._previous = None

    def identity(self, name: str) -> LoadedIdentity:
        value = _value_or_raise(self._entry(("identity", name)).value)
        assert isinstance(value, LoadedIdentity)
        return value

    def truststore(self, name: str | None) -> LoadedTruststore:
        value = _value_or_raise(self._entry(("truststore", name)).value)
        assert isinstance(value, LoadedTruststore)
        return value

    def versions(self, job: Job) -> tuple[int, int]:
        """Return the generations of the job's identity and truststore.

        A generation grows whenever the material that calls use changes, so calls
        planned under other generations carry outdated keys.
        """
        identity = self._entries.get(("identity", job.identity))
        truststore = self._entries.get(("truststore", job.truststore))
        return (
            identity.generation if identity else 0,
            truststore.generation if truststore else 0,
        )

    def reload_changed(self, job: Job) -> list[MaterialReload]:
        """Load the job's identity and truststore again if their files changed.

        Returns one MaterialReload per identity or truststore that was loaded
        again, and one per identity or truststore whose changed files still fail
        to load, on every call until they load.
        """
        keys: list[_Key] = [("truststore", job.truststore)]
        if job.identity is not None:
            keys.insert(0, ("identity", job.identity))
        reloads = [self._reload(key) for key in keys]
        return [reload for reload in reloads if reload is not None]

    def _entry(self, key: _Key) -> _Entry:
        entry = self._entries.get(key)
        if entry is not None:
            return entry
        sources = self._sources(key)
        # The signature is taken before the files are read, so a change made
        # while they are read shows at the next check.
        signature = file_signature(sources)
        entry = _Entry(self._load(key), sources, signature, self.clock(), 1)
        if isinstance(entry.value, JobError):
            self._keep_previous(key, entry)
        self._entries[key] = entry
        return entry

    def _reload(self, key: _Key) -> MaterialReload | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if now - entry.checked < self.check_interval and entry.failure is None:
            return None  # the common case, kept cheap for bursts of due jobs
        subject = _subject(key)
        files = tuple(str(source.path) for source in entry.sources)
        if now - entry.checked >= self.check_interval:
            entry.checked = now
            signature = file_signature(entry.sources)
            if entry.failure is not None or signature != entry.signature:
                entry.signature = signature
                loaded = self._load(key)
                if isinstance(loaded, JobError) and not isinstance(
                    entry.value, JobError
                ):
                    entry.failure = loaded  # the last good material stays in use
                else:
                    entry.value = loaded
                    entry.failure = None
                    entry.generation += 1
                    return MaterialReload(subject, files)
        if entry.failure is None:
            return None
        return MaterialReload(subject, files, entry.failure, _describe(entry.value))

    def _keep_previous(self, key: _Key, entry: _Entry) -> None:
        """Take the last good material of the previous configuration, if any."""
        previous = self._previous
        if previous is None:
            return
        if _definition(previous.config, key) != _definition(self.config, key):
            return
        old = previous._entries.get(key)
        if old is None or isinstance(old.value, JobError):
            return
        assert isinstance(entry.value, JobError)
        entry.failure = entry.value
        entry.value = old.value

    def _sources(self, key: _Key) -> list[Source]:
        kind, name = key
        if kind == "identity":
            assert name is not None
            return identity_sources(self.config.identities[name])
        defined = self.config.truststores[name] if name is not None else None
        return truststore_sources(defined)

    def _load(self, key: _Key) -> Loaded | JobError:
        kind, name = key
        try:
            if kind == "identity":
                assert name is not None
                return load_identity(self.config.identities[name])
            if name is None:
                return load_system_truststore()
            return load_truststore(self.config.truststores[name])
        except JobError as e:
            return e


def _definition(config: Config, key: _Key) -> tuple[object, Path] | None:
    """Return what defines an identity or truststore: its model and folder.

    Returns None for the system store and for a name the configuration lacks.
    """
    kind, name = key
    if name is None:
        return None
    table: Mapping[str, Defined[Any]] = (
        config.identities if kind == "identity" else config.truststores
    )
    defined = table.get(name)
    return (defined.model, defined.base_dir) if defined else None


def _subject(key: _Key) -> str:
    kind, name = key
    return f"{kind} '{name or SYSTEM_NAME}'"


def _describe(value: Loaded | JobError) -> str:
    """Name the material still in use, for the log line of a failed reload."""
    if isinstance(value, LoadedIdentity):
        info = value.info
        return (
            f"the previous certificate {info.subject} (SHA-256 {info.sha256}) is "
            "still presented"
        )
    if isinstance(value, LoadedTruststore):
        count = len(value.certificates)
        noun = "certificate is" if count == 1 else "certificates are"
        return f"the previous {count} {noun} still trusted"
    return "nothing is in use"


def _value_or_raise(value: T | JobError) -> T:
    if isinstance(value, JobError):
        raise value
    return value
