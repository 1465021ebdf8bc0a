"""Shared parts of the key material checks: located findings, passwords, dates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509

from runner.config.loader import Config, Defined
from runner.config.models import Identity, Truststore
from runner.config.secrets import resolve_secret, secret_unavailable
from runner.errors import Finding, JobError, Severity
from runner.tls.certinfo import CertificateInfo

Owner = Defined[Identity] | Defined[Truststore]


@dataclass
class CheckContext:
    """The state that every check shares: configuration, clock and findings."""

    config: Config
    now: dt.datetime
    expiry_warning: dt.timedelta
    findings: list[Finding] = field(default_factory=list)
    # Every CA of the run's truststores: subject -> self-signed or not, and the
    # names of the truststores that contain it.
    trusted: dict[x509.Name, tuple[bool, set[str]]] = field(default_factory=dict)

    def report(
        self,
        owner: Owner,
        keys: tuple[str | int, ...],
        message: str,
        severity: Severity = "error",
    ) -> None:
        """Add a finding at the node ``keys`` below the identity or truststore."""
        section = "identities" if isinstance(owner.model, Identity) else "truststores"
        document = self.config.documents[owner.file]
        # Without keys, point at the name line rather than its first key.
        path = (section, owner.name, *keys)
        line, column = document.source.locate(path, prefer_key=not keys)
        self.findings.append(Finding(owner.file, line, column, message, severity))

    def report_error(
        self, owner: Owner, keys: tuple[str | int, ...], error: JobError
    ) -> None:
        self.report(owner, keys, f"{error.message}; {error.hint}")


def read_password(
    context: CheckContext, owner: Owner, owner_text: str, error_class: type[JobError]
) -> tuple[str | None, bool]:
    """Resolve the owner's password; return it and whether it was available.

    An unset variable or a missing password file is a warning, because CI jobs
    often run without secrets; other problems, such as a password file that is
    not UTF-8, are errors. Either way the checks that need the password are
    skipped.
    """
    secret = owner.model.password
    try:
        value = resolve_secret(secret, owner.base_dir, owner_text, error_class)
    except JobError as e:
        unavailable = secret_unavailable(secret, owner.base_dir)
        context.report(
            owner,
            ("password",),
            f"{e.message}; {e.hint}; the checks that need the password are skipped",
            "warning" if unavailable else "error",
        )
        return None, False
    return value, True


def check_dates(
    context: CheckContext,
    owner: Owner,
    keys: tuple[str | int, ...],
    certificate: x509.Certificate,
    role: str,
    remedy: str,
    *,
    invalid: Severity = "error",
) -> None:
    """Report a certificate that is expired, not yet valid or expires soon.

    ``role`` names the certificate ("client certificate"), and ``remedy`` is the
    fix that the message gives when it expired or expires soon.
    """
    info = CertificateInfo.of(certificate)
    what = f"{label(owner)}: {role} {info.subject or '(empty subject)'}"
    if info.not_after < context.now:
        message = f"{what} expired on {_date(info.not_after)}; {remedy}"
        context.report(owner, keys, message, invalid)
    elif info.not_before > context.now:
        message = (
            f"{what} is not valid until {_date(info.not_before)}; check the system "
            "clock, or use the certificate that is valid now"
        )
        context.report(owner, keys, message, invalid)
    elif info.not_after < context.now + context.expiry_warning:
        days = (info.not_after - context.now).days
        message = (
            f"{what} expires on {_date(info.not_after)} (in {days} "
            f"day{'' if days == 1 else 's'}); {remedy}"
        )
        context.report(owner, keys, message, "warning")


def label(owner: Owner) -> str:
    """Name an identity or truststore the way messages do: identity 'name'."""
    kind = "identity" if isinstance(owner.model, Identity) else "truststore"
    return f"{kind} '{owner.name}'"


def is_self_signed(certificate: x509.Certificate) -> bool:
    """Return whether the certificate is self-issued (a root CA, usually)."""
    return certificate.issuer == certificate.subject


def _date(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
