"""Requests the transport sends and responses it returns, free of job-file types."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_BODY_LIMIT = 4096
# Each call in flight keeps up to this many bytes of its body, so 16 calls in
# flight (the default concurrency) keep up to 256 MiB before records copy them.
MAX_BODY_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True)
class TlsSettings:
    """In-memory TLS material of one call; ``pool_key`` separates connection pools.

    Two calls share connections and TLS sessions only when their pool keys are
    equal, and the key covers the identity, the truststore and the HTTP version.
    """

    ca_pem: bytes = field(repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    pool_key: str = ""


@dataclass(frozen=True)
class Request:
    """One HTTPS request, ready for a curl handle."""

    url: str
    tls: TlsSettings
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    resolve: tuple[str, ...] = ()  # curl --resolve entries: "host:port:address"
    timeout: float = 30.0  # seconds for the whole call
    connect_timeout: float | None = None  # seconds
    http_version: str | None = None  # "1.1", "2" or None to negotiate
    max_response_bytes: int | None = None
    body_limit: int = DEFAULT_BODY_LIMIT  # bytes of the body kept for the record
    body_needles: tuple[bytes, ...] = ()  # searched in the whole body as it streams


@dataclass(frozen=True)
class ServerCertificate:
    """One certificate of the chain the server presented, as libcurl reports it."""

    subject: str
    issuer: str
    not_after: str | None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()

    def record(self) -> dict[str, object]:
        """Return the certificate's entry in a record's ``tls.chain``."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "not_after": self.not_after,
        }


@dataclass
class Response:
    """The outcome of one transfer, whether it completed or failed."""

    curl_code: int = 0
    curl_message: str = ""
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    body_bytes: int = 0
    found_needles: frozenset[bytes] = frozenset()
    too_large: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    tls_version: str | None = None
    tls_cipher: str | None = None
    server_certificates: list[ServerCertificate] = field(default_factory=list)
    http_version: str | None = None
    remote: str | None = None
    connection_id: int | None = None
    reused_connection: bool = False
    tls_debug: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return self.curl_code == 0
