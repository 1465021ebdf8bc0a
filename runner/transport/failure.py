"""A classified failure, and the facts the runner has about a call before it runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509

from runner.errors import ErrorKind
from runner.tls.checks import IdentityFinding, check_identity
from runner.tls.identity import LoadedIdentity


@dataclass(frozen=True)
class Failure:
    """A classified failure, as the ``error`` field of a response record."""

    kind: ErrorKind
    message: str
    hint: str

    def record(self) -> dict[str, str]:
        return {"kind": str(self.kind), "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class CallContext:
    """Facts the runner has about a call, used to overrule libcurl's code.

    ``trusted`` contains the job's truststore certificates, which tell whether the
    identity's chain ends at a root. ``server_ca_names`` are the CA names the
    server sent in its certificate request when a probe saw them (``doctor``),
    else None. ``system_store`` is true for a job without a truststore, which
    uses the operating system's store.
    """

    url: str
    host: str
    identity: LoadedIdentity | None
    truststore: str
    timeout: float
    connect_timeout: float | None = None
    max_response_bytes: int | None = None
    trusted: tuple[x509.Certificate, ...] = field(default=(), repr=False)
    truststore_sources: tuple[str, ...] = ()
    server_ca_names: tuple[x509.Name, ...] | None = None
    system_store: bool = False

    def identity_findings(self) -> list[IdentityFinding]:
        """Check the identity offline; empty without an identity."""
        if self.identity is None:
            return []
        return check_identity(
            self.identity, trusted=self.trusted, accepted_names=self.server_ca_names
        )
