"""Track the connections of one pool, to know which calls need a TLS handshake.

libcurl reports the negotiated TLS version and cipher only in its verbose log, and
turning that log on costs about a fifth of the client CPU of a call on a reused
connection (docs/benchmarks.md has the measurement). The executor therefore
claims a known connection for each call. A connection can be claimed when it goes
to the same host and port, its handshake facts are known, it is idle (or HTTP/2,
which multiplexes), it finished a call less than ``MAX_IDLE_S`` ago, and its
socket shows no sign of having been closed. A call with a claim runs without the
verbose log and gets the facts of the connection it used, by connection id. A
call without one opens a new connection and reads the facts from the log.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from runner.transport.request import ServerCertificate

log = logging.getLogger(__name__)

# libcurl's default CURLOPT_MAXAGE_CONN, set on every handle. The tracker stops
# claiming a connection a little earlier, because libcurl starts counting idle
# time when a call ends, which is before the executor learns of it.
MAX_IDLE_S = 118
_CLAIM_MAX_IDLE_S = MAX_IDLE_S - 2
# Handshake facts kept per pool, the oldest dropped first.
MAX_KNOWN_CONNECTIONS = 1024
# Events of an idle socket that the server closed. Readable alone is no sign:
# TLS 1.3 servers send session tickets after the handshake. POLLRDHUP (the peer
# shut down its side, Linux only) is what a closing server's FIN sets.
_CLOSED_EVENTS = (
    getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR | select.POLLNVAL
)


@dataclass(frozen=True)
class TlsFacts:
    """Negotiated TLS version and cipher, and the server chain, of one connection."""

    version: str | None
    cipher: str | None
    server_certificates: tuple[ServerCertificate, ...]


@dataclass
class _Connection:
    socket: int
    multiplexed: bool
    idle_since: float
    users: int = 0


@dataclass
class ConnectionTracker:
    """Connections of one pool that later calls can be expected to reuse."""

    clock: Callable[[], float] = time.monotonic
    _facts: dict[int, TlsFacts] = field(default_factory=dict)
    _by_host: dict[str, dict[int, _Connection]] = field(default_factory=dict)

    def claim(self, host: str) -> int | None:
        """Reserve a live connection to ``host`` for one call, or return None.

        The id is a prediction: libcurl picks the connection itself, so the call
        may end on another idle connection to the same host, or open a new one.
        """
        connections = self._by_host.get(host, {})
        now = self.clock()
        for connection_id, connection in list(connections.items()):
            if connection.users and not connection.multiplexed:
                continue
            if connection.users == 0 and not _usable(connection, now):
                del connections[connection_id]
                continue
            connection.users += 1
            return connection_id
        return None

    def finished(
        self,
        claimed: int | None,
        host: str,
        connection_id: int | None,
        socket: int,
        multiplexed: bool,
    ) -> None:
        """Record that a call on ``host`` ended; ``socket`` is -1 once it is closed."""
        connections = self._by_host.setdefault(host, {})
        if claimed is not None and claimed in connections:
            connections[claimed].users -= 1
        if connection_id is None:
            return
        if socket < 0 or connection_id not in self._facts:
            connections.pop(connection_id, None)
            return
        connection = connections.get(connection_id)
        if connection is None:
            connection = _Connection(socket, multiplexed, self.clock())
            connections[connection_id] = connection
        connection.socket = socket
        connection.multiplexed = multiplexed
        connection.idle_since = self.clock()

    def remember(self, connection_id: int, facts: TlsFacts) -> None:
        """Store the handshake facts of a new connection."""
        self._facts[connection_id] = facts
        if len(self._facts) > MAX_KNOWN_CONNECTIONS:
            del self._facts[next(iter(self._facts))]

    def facts(self, connection_id: int) -> TlsFacts | None:
        """Return the handshake facts of a connection, if one of its calls saw them."""
        return self._facts.get(connection_id)


def _usable(connection: _Connection, now: float) -> bool:
    if now - connection.idle_since >= _CLAIM_MAX_IDLE_S:
        return False
    poller = select.poll()
    poller.register(connection.socket, _CLOSED_EVENTS)
    return not poller.poll(0)
