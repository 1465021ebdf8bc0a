"""Find job files, validate them, and join them into one configuration.

Identities, truststores and jobs share one namespace across all files of a run, so
a team can keep its keystores in one file and its jobs in others. Every problem in
every file is collected before anything is reported.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import ValidationError

from runner.config.messages import findings_from_validation
from runner.config.models import Identity, Job, JobFile, Truststore
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
        expanded = Path(value).expanduser()
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


def discover(paths: Sequence[str]) -> list[tuple[Path, str]]:
    """Return (path, display name) of every job file under ``paths``, in order.

    A folder is searched recursively for ``*.yaml`` and ``*.yml``. A path that does
    not exist raises UsageError.
    """
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in JOB_FILE_SUFFIXES and p.is_file()
            )
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


def load_config(paths: Sequence[str]) -> Config:
    """Load and validate every job file under ``paths`` into one Config.

    Raises ConfigError listing every error of every file, or UsageError for paths
    that do not exist.
    """
    config = Config()
    errors: list[Finding] = []
    for path, display in discover(paths):
        config.files.append(display)
        try:
            document = read_yaml_file(path, display)
        except ConfigError as e:
            errors.extend(e.findings)
            continue
        config.documents[display] = document
        errors.extend(document.findings)
        try:
            model = JobFile.model_validate(document.data)
        except ValidationError as e:
            errors.extend(findings_from_validation(document, e))
            continue
        _merge(config, document, path.parent, model, errors)
    errors.extend(_check_references(config))
    if errors:
        raise ConfigError(errors + config.warnings)
    return config


def _merge(
    config: Config,
    document: YamlDocument,
    base_dir: Path,
    model: JobFile,
    errors: list[Finding],
) -> None:
    def add(target: dict[str, Defined[T]], section: str, name: str, item: T) -> None:
        position = document.source.locate((section, name), prefer_key=True)
        if name in target:
            errors.append(
                Finding(
                    document.file,
                    *position,
                    f"duplicate {_SINGULAR[section]} name '{name}'; also defined at "
                    f"{target[name].where}, and names must be unique across all files",
                )
            )
            return
        target[name] = Defined(name, item, document.file, base_dir, position)

    for name, identity in model.identities.items():
        add(config.identities, "identities", name, identity)
    for name, truststore in model.truststores.items():
        add(config.truststores, "truststores", name, truststore)
    for name, job in model.jobs.items():
        add(config.jobs, "jobs", name, job)


_SINGULAR = {"identities": "identity", "truststores": "truststore", "jobs": "job"}


def _check_references(config: Config) -> list[Finding]:
    findings: list[Finding] = []
    for job in config.jobs.values():
        document = config.documents[job.file]
        references = (
            ("identity", job.model.identity, config.identities),
            ("truststore", job.model.truststore, config.truststores),
        )
        for key, name, defined in references:
            if name is None or name in defined:
                continue
            line, column = document.source.locate(("jobs", job.name, key))
            findings.append(
                Finding(job.file, line, column, _unknown_reference(key, name, defined))
            )
    return findings


def _unknown_reference(kind: str, name: str, defined: Mapping[str, object]) -> str:
    message = f"job refers to {kind} '{name}', which no job file of this run defines"
    close = difflib.get_close_matches(name, list(defined), n=1)
    if close:
        return f"{message}; did you mean '{close[0]}'?"
    if defined:
        return f"{message}; defined: {', '.join(sorted(defined))}"
    section = "identities" if kind == "identity" else "truststores"
    return f"{message}; define it under '{section}:' in one of the files"
