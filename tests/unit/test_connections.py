"""ConnectionTracker: which calls may run without inspecting TLS."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from runner.transport.connections import (
    MAX_IDLE_S,
    MAX_KNOWN_CONNECTIONS,
    ConnectionTracker,
    TlsFacts,
)

HOST = "localhost:8443"
FACTS = TlsFacts("TLSv1.3", "TLS_AES_256_GCM_SHA384", ())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def tracked(
    sock: socket.socket, clock: Clock | None = None, multiplexed: bool = False
) -> ConnectionTracker:
    """Return a tracker with connection 7 to HOST, idle after one call."""
    tracker = ConnectionTracker(clock=clock or Clock())
    tracker.remember(7, FACTS)
    tracker.finished(None, HOST, 7, sock.fileno(), multiplexed)
    return tracker


def test_claim_without_connections() -> None:
    assert ConnectionTracker().claim(HOST) is None


def test_claim_idle_connection(pair: tuple[socket.socket, socket.socket]) -> None:
    tracker = tracked(pair[0])

    assert tracker.claim(HOST) == 7


def test_claim_other_host_none(pair: tuple[socket.socket, socket.socket]) -> None:
    tracker = tracked(pair[0])

    assert tracker.claim("localhost:9443") is None


def test_busy_connection_not_claimed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tracker = tracked(pair[0])
    tracker.claim(HOST)

    assert tracker.claim(HOST) is None


def test_released_connection_claimed_again(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tracker = tracked(pair[0])
    claimed = tracker.claim(HOST)
    tracker.finished(claimed, HOST, 7, pair[0].fileno(), False)

    assert tracker.claim(HOST) == 7


def test_multiplexed_connection_shared(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tracker = tracked(pair[0], multiplexed=True)
    tracker.claim(HOST)

    assert tracker.claim(HOST) == 7


def test_connection_without_facts_not_claimed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tracker = ConnectionTracker()
    tracker.finished(None, HOST, 3, pair[0].fileno(), False)

    assert tracker.claim(HOST) is None


def test_closed_by_libcurl_not_claimed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tracker = tracked(pair[0])
    tracker.finished(None, HOST, 7, -1, False)

    assert tracker.claim(HOST) is None


def test_closed_by_server_not_claimed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    tracker = tracked(ours)
    theirs.close()

    assert tracker.claim(HOST) is None


def test_unread_data_still_claimed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    tracker = tracked(ours)
    theirs.send(b"session ticket")  # what TLS 1.3 servers send after a handshake

    assert tracker.claim(HOST) == 7


def test_long_idle_not_claimed(pair: tuple[socket.socket, socket.socket]) -> None:
    clock = Clock()
    tracker = tracked(pair[0], clock)
    clock.now += MAX_IDLE_S

    assert tracker.claim(HOST) is None


def test_short_idle_claimed(pair: tuple[socket.socket, socket.socket]) -> None:
    clock = Clock()
    tracker = tracked(pair[0], clock)
    clock.now += MAX_IDLE_S / 2

    assert tracker.claim(HOST) == 7


def test_facts_by_connection_id() -> None:
    tracker = ConnectionTracker()
    tracker.remember(4, FACTS)

    assert tracker.facts(4) == FACTS
    assert tracker.facts(5) is None


def test_oldest_facts_dropped() -> None:
    tracker = ConnectionTracker()
    for connection_id in range(MAX_KNOWN_CONNECTIONS + 1):
        tracker.remember(connection_id, FACTS)

    assert tracker.facts(0) is None
    assert tracker.facts(MAX_KNOWN_CONNECTIONS) == FACTS
