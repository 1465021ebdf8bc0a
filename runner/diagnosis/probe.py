"""Handshake probes with pyOpenSSL: versions, server chain, certificate request.

libcurl does not expose the CA names a server sends in its certificate request,
so ``doctor`` opens its own TLS connections to the endpoint, one per TLS
version, without a client certificate. The probes do not verify the server
during the handshake, so they can report what an untrusted server presents.
``verify_chain`` then checks that chain against the job's truststore, as
libcurl would.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from OpenSSL import SSL, crypto

# pyOpenSSL's version constants, newest first, with the names people use.
TLS_VERSIONS = (("TLS 1.3", SSL.TLS1_3_VERSION), ("TLS 1.2", SSL.TLS1_2_VERSION))
# OpenSSL's state strings (SSL_state_string_long) for the messages that matter.
_READ_SERVER_HELLO = b"read server hello"
_READ_CERTIFICATE_REQUEST = b"read server certificate request"


@dataclass(frozen=True)
class Endpoint:
    """Target of a probe: the URL's host (for SNI and name checks) and the address."""

    host: str
    port: int
    address: str

    @property
    def display(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{self.port}"


@dataclass(frozen=True)
class VersionResult:
    """The outcome of one handshake restricted to a single TLS version."""

    version: str
    accepted: bool
    detail: str


@dataclass
class ProbeResult:
    """Findings of the probes for one endpoint."""

    endpoint: Endpoint
    connect_error: str | None = None
    versions: list[VersionResult] = field(default_factory=list)
    chain: list[x509.Certificate] = field(default_factory=list)
    certificate_requested: bool = False
    ca_names: list[x509.Name] = field(default_factory=list)

    @property
    def reached_tls(self) -> bool:
        return any(v.accepted for v in self.versions)


@dataclass
class _Handshake:
    states: list[bytes] = field(default_factory=list)
    error: str | None = None
    connect_error: str | None = None
    chain: list[x509.Certificate] = field(default_factory=list)
    ca_names: list[x509.Name] = field(default_factory=list)


def probe(endpoint: Endpoint, timeout: float) -> ProbeResult:
    """Probe each TLS version once; ``timeout`` bounds each connection in seconds."""
    result = ProbeResult(endpoint)
    for name, version in TLS_VERSIONS:
        shake = _handshake(endpoint, version, timeout)
        if shake.connect_error is not None:
            result.connect_error = shake.connect_error
            return result
        accepted = any(_READ_SERVER_HELLO in state for state in shake.states)
        result.versions.append(VersionResult(name, accepted, _detail(shake)))
        if accepted and not result.chain:
            result.chain = shake.chain
            result.certificate_requested = any(
                _READ_CERTIFICATE_REQUEST in state for state in shake.states
            )
            result.ca_names = shake.ca_names
    return result


def verify_chain(
    chain: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate]
) -> str | None:
    """Verify a server chain against trusted certificates; return OpenSSL's error.

    Partial chains are accepted, as libcurl does by default, so an intermediate
    in the truststore is enough.
    """
    if not chain:
        return "the server presented no certificate"
    store = crypto.X509Store()
    for certificate in trusted:
        store.add_cert(crypto.X509.from_cryptography(certificate))
    store.set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)
    leaf, *rest = [crypto.X509.from_cryptography(c) for c in chain]
    try:
        crypto.X509StoreContext(store, leaf, rest).verify_certificate()
    except crypto.X509StoreContextError as e:
        return str(e)
    return None


def _handshake(endpoint: Endpoint, version: int, timeout: float) -> _Handshake:
    shake = _Handshake()
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_min_proto_version(version)
    context.set_max_proto_version(version)
    context.set_verify(SSL.VERIFY_NONE)
    context.set_info_callback(
        lambda connection, where, ret: shake.states.append(
            connection.get_state_string()
        )
    )
    try:
        sock = socket.create_connection((endpoint.address, endpoint.port), timeout)
    except TimeoutError:
        shake.connect_error = f"no TCP connection within {timeout:g}s"
        return shake
    except OSError as e:
        shake.connect_error = e.strerror or str(e)
        return shake
    with sock:
        connection = SSL.Connection(context, sock)
        if not _is_address(endpoint.host):
            connection.set_tlsext_host_name(endpoint.host.encode("idna"))
        connection.set_connect_state()
        shake.error = _drive(connection, sock, timeout)
        shake.chain = connection.get_peer_cert_chain(as_cryptography=True) or []
        shake.ca_names = connection.get_client_ca_list(as_cryptography=True)
    return shake


def _drive(
    connection: SSL.Connection, sock: socket.socket, timeout: float
) -> str | None:
    """Run the handshake on a non-blocking socket; return the error, if any."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.do_handshake()
            return None
        except (SSL.WantReadError, SSL.WantWriteError) as e:
            writing = isinstance(e, SSL.WantWriteError)
            remaining = deadline - time.monotonic()
            waiting = ([], [sock]) if writing else ([sock], [])
            if remaining <= 0 or not any(select.select(*waiting, [], remaining)):
                return f"the server sent no TLS answer within {timeout:g}s"
        except SSL.SysCallError as e:
            return f"the connection broke ({e.args[1] if len(e.args) > 1 else e})"
        except SSL.Error as e:
            return "; ".join(str(reason[2]) for reason in e.args[0]) or str(e)


def _detail(shake: _Handshake) -> str:
    if shake.error is None:
        return "handshake completed"
    if any(_READ_SERVER_HELLO in state for state in shake.states):
        return (
            f"the server answered, then ended the handshake with '{shake.error}' "
            "(the probe sends no client certificate)"
        )
    return shake.error


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
