"""Find job files, validate them, and join them into one configuration.

Identities, truststores and jobs share one namespace across all files of a run, so
a team can keep its keystores in one file and its jobs in others. Every problem in
every file is collected before anything is reported, and ``run`` and ``validate``
load files the same way, so both report the same errors.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from runner.config.consistency import check_jobs
from runner.config.messages import findings_from_validation
from runner.config.models import NAME_PATTERN, Identity, Job, JobFile, Truststore
from runner.config.yamlsource import Position, YamlDocument, read_yaml_file
from runner.errors import ConfigError, Finding, UsageError

JOB_FILE_SUFFIXES = (".yaml", ".yml")

T = TypeVar("T")


@dataclass(frozen=True)
class Defined(Generic[T]):
    """A named item of a job file, with the file and line that define it."""

    name: str
    model: T
    file: str
    base_dir: Path
    position: Position

    @property
    def where(self) -> str:
        return f"{self.file}:{self.position[0]}"

    def path(self, value: str) -> Path:
        """Resolve a path written in the defining file: ``~`` first, then its folder."""
        expanded = expand_user(value)
        return expanded if expanded.is_absolute() else self.base_dir / expanded


@dataclass
class Config:
    """Every identity, truststore and job of a run, by name."""

    files: list[str] = field(default_factory=list)
    identities: dict[str, Defined[Identity]] = field(default_factory=dict)
    truststores: dict[str, Defined[Truststore]] = field(default_factory=dict)
    jobs: dict[str, Defined[Job]] = field(default_factory=dict)
    documents: dict[str, YamlDocument] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)


def expand_user(value: str) -> Path:
    """Expand a leading ``~`` or ``~user``; keep the path as written when unknown."""
    try:
        return Path(value).expanduser()
    except RuntimeError:  # no home folder for that user: "file not found" follows
        return Path(value)


def discover(paths: Sequence[str]) -> list[tuple[Path, str]]:
    """Return (path, display name) of every job file under ``paths``, in order.

    A folder is searched recursively for ``*.yaml`` and ``*.yml``, skipping what
    scan_folder skips. A path that does not exist raises UsageError.
    """
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = scan_folder(path)
            if not files:
                raise UsageError(f"{given}: folder holds no *.yaml or *.yml job files")
        elif path.is_file():
            files = [path]
        elif path.exists():
            raise UsageError(f"{given}: not a regular file or folder")
        else:
            raise UsageError(f"{given}: no such file or folder")
        for file in files:
            resolved = file.resolve()
            if resolved not in seen:
                seen.add(resolved)
                found.append((file, str(file)))
    return found


def scan_folder(folder: Path) -> list[Path]:
    """Return the job files below ``folder``, sorted.

    Hidden files and folders (names starting with '.') and node_modules folders
    are skipped, because they hold the files of other tools, such as CI workflows.
    Symbolic links to folders are not followed. A symbolic link named like a job
    file is returned even when its target is missing, so that reading it reports
    the broken link (os.walk lists such a link among the files).
    """
    files: list[Path] = []
    for root, folders, names in os.walk(folder):
        folders[:] = [f for f in folders if not _skipped(f)]
        for name in names:
            path = Path(root, name)
            if not _skipped(name) and path.suffix in JOB_FILE_SUFFIXES:
                files.append(path)
    return sorted(files)


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "node_modules"


def load_config(paths: Sequence[str]) -> Config:
    """Load and validate every job file under ``paths`` into one Config.

    Raises ConfigError listing every error and warning of every file, or
    UsageError for paths that do not exist or cannot be read.
    """
    config, findings = collect_config(paths)
    if any(f.severity == "error" for f in findings):
        raise ConfigError(findings)
    return config


def collect_config(paths: Sequence[str]) -> tuple[Config, list[Finding]]:
    """Load every job file under ``paths`` and return what is valid, with findings.

    The Config contains every identity, truststore and job that is valid on its own,
    even from files with errors elsewhere, so that later checks still see them.
    The findings are every error and warning of every file. Raises UsageError for
    paths that do not exist or cannot be read.
    """
    config = Config()
    findings: list[Finding] = []
    declared: dict[str, dict[str, str]] = {section: {} for section in _SINGULAR}
    for path, display in discover(paths):
        config.files.append(display)
        try:
            document = read_yaml_file(path, display)
        except ConfigError as e:
            findings.extend(e.findings)
            continue
        config.documents[display] = document
        findings.extend(document.findings)
        fresh = _declare(document, declared, findings)
        try:
            model = JobFile.model_validate(document.data)
        except ValidationError as e:
            findings.extend(findings_from_validation(document, e))
            model = _valid_parts(document.data)
        _merge(config, document, path.parent, model, fresh)
    findings.extend(_check_references(config, declared))
    findings.extend(check_jobs(config))
    config.warnings.extend(_literal_secrets(config))
    findings.extend(config.warnings)
    return config, sorted(findings)


def _declare(
    document: YamlDocument,
    declared: dict[str, dict[str, str]],
    findings: list[Finding],
) -> set[tuple[str, str]]:
    """Note the names a file defines, valid or not; report names defined twice.

    Returns the (section, name) pairs that this file is the first to define.
    """
    fresh: set[tuple[str, str]] = set()
    for section, singular in _SINGULAR.items():
        items = document.data.get(section)
        if not isinstance(items, dict):
            continue
        for name in items:
            line, column = document.source.locate((section, name), prefer_key=True)
            where = f"{document.file}:{line}"
            if name in declared[section]:
                findings.append(
                    Finding(
                        document.file,
                        line,
                        column,
                        f"duplicate {singular} name '{name}'; also defined at "
                        f"{declared[section][name]}, and names must be unique "
                        "across all files",
                    )
                )
                continue
            declared[section][name] = where
            fresh.add((section, name))
    return fresh


def _valid_parts(data: dict[str, Any]) -> JobFile:
    """Return a JobFile of the identities, truststores and jobs that are valid."""
    sections: dict[str, dict[str, Any]] = {}
    for section, model in _MODELS.items():
        items = data.get(section)
        valid: dict[str, Any] = {}
        if isinstance(items, dict):
            for name, item in items.items():
                if not _NAME.fullmatch(name):
                    continue
                try:
                    valid[name] = model.model_validate(item)
                except ValidationError:
                    continue  # already reported by the whole-file validation
        sections[section] = valid
    return JobFile.model_construct(
        version=1,
        identities=sections["identities"],
        truststores=sections["truststores"],
        jobs=sections["jobs"],
    )


def _merge(
    config: Config,
    document: YamlDocument,
    base_dir: Path,
    model: JobFile,
    fresh: set[tuple[str, str]],
) -> None:
    def add(target: dict[str, Defined[T]], section: str, name: str, item: T) -> None:
        if (section, name) not in fresh:
            return  # a duplicate name, reported by _declare
        position = document.source.locate((section, name), prefer_key=True)
        target[name] = Defined(name, item, document.file, base_dir, position)

    for name, identity in model.identities.items():
        add(config.identities, "identities", name, identity)
    for name, truststore in model.truststores.items():
        add(config.truststores, "truststores", name, truststore)
    for name, job in model.jobs.items():
        add(config.jobs, "jobs", name, job)


_SINGULAR = {"identities": "identity", "truststores": "truststore", "jobs": "job"}
_MODELS: dict[str, type[BaseModel]] = {
    "identities": Identity,
    "truststores": Truststore,
    "jobs": Job,
}
_NAME = re.compile(NAME_PATTERN)


def _literal_secrets(config: Config) -> list[Finding]:
    """Warn about passwords written into job files, which end up in git history."""
    findings: list[Finding] = []
    owners: list[tuple[str, Defined[Identity] | Defined[Truststore]]] = [
        *(("identities", d) for d in config.identities.values()),
        *(("truststores", d) for d in config.truststores.values()),
    ]
    for section, defined in owners:
        if not isinstance(defined.model.password, str):
            continue
        document = config.documents[defined.file]
        line, column = document.source.locate((section, defined.name, "password"))
        findings.append(
            Finding(
                defined.file,
                line,
                column,
                f"{_SINGULAR[section]} '{defined.name}' has its password written in "
                "the file; use {env: NAME} or {file: PATH} so that it stays out of "
                "version control",
                "warning",
            )
        )
    return findings


def _check_references(
    config: Config, declared: dict[str, dict[str, str]]
) -> list[Finding]:
    """Report jobs that name an identity or truststore that no file defines.

    Jobs are read from the YAML data, so that jobs with other errors are checked
    too, and a name counts as defined even when its definition has errors.
    """
    findings: list[Finding] = []
    for document in config.documents.values():
        jobs = document.data.get("jobs")
        if not isinstance(jobs, dict):
            continue
        for name, job in jobs.items():
            if not isinstance(job, dict):
                continue
            for key, section in (
                ("identity", "identities"),
                ("truststore", "truststores"),
            ):
                reference = job.get(key)
                if not isinstance(reference, str) or reference in declared[section]:
                    continue
                line, column = document.source.locate(("jobs", name, key))
                other = "truststores" if section == "identities" else "identities"
                message = _unknown_reference(
                    key, reference, declared[section], declared[other]
                )
                findings.append(Finding(document.file, line, column, message))
    return findings


def _unknown_reference(
    kind: str, name: str, defined: Mapping[str, object], other: Mapping[str, object]
) -> str:
    message = f"job refers to {kind} '{name}', which no job file of this run defines"
    if name in other:
        other_kind = "truststore" if kind == "identity" else "identity"
        return (
            f"{message}; '{name}' is a {other_kind}, so check whether 'identity' and "
            "'truststore' are swapped"
        )
    close = difflib.get_close_matches(name, list(defined), n=1)
    if close:
        return f"{message}; did you mean '{close[0]}'?"
    section = "identities" if kind == "identity" else "truststores"
    known = f" (defined: {', '.join(sorted(defined))})" if defined else ""
    return (
        f"{message}{known}; define it under '{section}:', or pass the file that "
        "defines it too, as in 'mtls-runner validate keystores.yaml jobs/'"
    )


def select_jobs(config: Config, wanted: Sequence[str]) -> list[str]:
    """Return the names of the jobs to run; raise UsageError for unknown names."""
    if not config.jobs:
        raise UsageError(
            f"no jobs in {', '.join(config.files)}; 'run' needs at least one job "
            "under 'jobs:'"
        )
    unknown = [name for name in wanted if name not in config.jobs]
    if unknown:
        raise UsageError(
            f"no job named {', '.join(unknown)}; jobs: {', '.join(sorted(config.jobs))}"
        )
    # A job named twice on the command line runs once.
    return list(dict.fromkeys(wanted)) if wanted else list(config.jobs)


def select_scheduled_jobs(
    config: Config, wanted: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Return the selected jobs with a schedule, and those without one.

    The service runs only the first list. Raises UsageError when a job named in
    ``wanted`` has no schedule, or when no selected job has one.
    """
    names = select_jobs(config, wanted)
    scheduled = [n for n in names if config.jobs[n].model.schedule is not None]
    unscheduled = [n for n in names if n not in scheduled]
    hint = "add 'schedule: every 5 minutes' (or another schedule) or use run --once"
    if wanted and unscheduled:
        raise UsageError(
            f"job {', '.join(unscheduled)} has no schedule, so the service cannot "
            f"run it; {hint}"
        )
    if not scheduled:
        raise UsageError(f"none of the jobs has a schedule; {hint}")
    return scheduled, unscheduled
