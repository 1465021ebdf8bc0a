"""Run many transfers at once on pycurl's multi interface.

Connections and TLS sessions live in a libcurl multi handle, so each pool key
(identity, truststore, HTTP version and ``resolve`` entries) gets a multi handle
of its own. A connection opened with one client certificate therefore never
carries a call made with another, whatever libcurl's own reuse checks compare. Easy
handles are kept per pool and reused, so connections persist across calls and
across scheduled ticks while the executor lives.

Two limits apply: ``concurrency`` calls in flight in all, and ``per_host`` calls
in flight to one host and port, across pools. Calls over a limit wait in a queue
per host, so a busy host does not hold up calls to others.

The executor runs in one thread. ``submit`` and ``wake`` may be called from any
thread; they wake the loop through a pipe.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pycurl

from runner.errors import OutputError
from runner.transport.connections import MAX_IDLE_S, ConnectionTracker
from runner.transport.request import Request, Response
from runner.transport.transfer import Transfer

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16
# Browsers open at most six connections to one HTTP/1.1 server. That keeps a
# server busy, and a tick of many endpoints on one API then leaves room in the
# global limit for other hosts and does not look like a flood to the server.
DEFAULT_PER_HOST = 6
IDLE_POLL_MS = 1000
# Connections each pool keeps open between calls; libcurl closes the oldest beyond.
POOL_MAX_CONNECTIONS = 64

Callback = Callable[[Request, Response], None]


@dataclass
class _Pool:
    multi: pycurl.CurlMulti
    idle: list[pycurl.Curl] = field(default_factory=list)
    connections: ConnectionTracker = field(default_factory=ConnectionTracker)
    # Transfers that inspect TLS and have not yet shared their handshake facts.
    inspecting: set[Transfer] = field(default_factory=set)
    active: int = 0
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class _Active:
    transfer: Transfer
    pool: _Pool
    host: str
    claimed: int | None  # the connection this call was expected to reuse
    callback: Callback


class Executor:
    """Run Requests concurrently and report each Response through a callback."""

    def __init__(
        self,
        concurrency: int = DEFAULT_CONCURRENCY,
        per_host: int | None = None,
        pool_idle_seconds: float = MAX_IDLE_S,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if per_host is not None and per_host < 1:
            raise ValueError(f"per_host must be at least 1, got {per_host}")
        self.concurrency = concurrency
        self.per_host = min(per_host or DEFAULT_PER_HOST, concurrency)
        self._incoming: deque[tuple[Request, Callback]] = deque()
        self._waiting: dict[str, deque[tuple[Request, Callback]]] = {}
        self._pools: dict[tuple[str, tuple[str, ...]], _Pool] = {}
        self._active: dict[pycurl.Curl, _Active] = {}
        self._per_host: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.max_active_seen = 0
        # A pool unused this long holds only connections libcurl has expired, so
        # closing it loses nothing. Pools of rotated key material, of reloaded
        # configurations and of removed jobs go this way.
        self.pool_idle_seconds = pool_idle_seconds
        self._next_sweep = time.monotonic() + pool_idle_seconds

    def submit(self, request: Request, callback: Callback) -> None:
        """Queue a request; ``callback`` runs in the executor's thread when done."""
        with self._lock:
            self._incoming.append((request, callback))
        self.wake()

    def submit_many(self, items: Iterable[tuple[Request, Callback]]) -> None:
        """Queue several requests at once and wake the loop once."""
        with self._lock:
            self._incoming.extend(items)
        self.wake()

    def wake(self) -> None:
        """Interrupt the loop's wait, for example after setting its stop event."""
        # A full pipe means the loop is awake already.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"\0")

    @property
    def busy(self) -> bool:
        with self._lock:
            incoming = bool(self._incoming)
        return incoming or bool(self._waiting) or bool(self._active)

    def run_until_idle(self) -> None:
        """Drive transfers until nothing is queued or in flight."""
        while self.busy:
            self.step(IDLE_POLL_MS)

    def run_until(self, stop: threading.Event) -> None:
        """Drive transfers until ``stop`` is set and every transfer has finished.

        Call ``wake`` after setting ``stop`` to end an idle wait at once.
        """
        while not stop.is_set() or self.busy:
            if self.busy:
                self.step(IDLE_POLL_MS)
            else:
                self._wait(IDLE_POLL_MS, transfers=False)
            self.close_unused_pools()

    def step(self, max_wait_ms: int) -> None:
        """Start what the limits allow, advance transfers, then wait for activity.

        Returns without waiting when nothing is in flight.
        """
        self._start_waiting()
        self._perform_all()
        # Calls started in place of finished ones send their requests at once on
        # the connections those left idle.
        if self._start_waiting():
            self._perform_all()
        if self._active:
            self._wait(max_wait_ms)

    @property
    def pool_count(self) -> int:
        return len(self._pools)

    def close_unused_pools(self, now: float | None = None) -> None:
        """Close the pools that no call has used for ``pool_idle_seconds``.

        Checks at most once per ``pool_idle_seconds`` unless ``now`` is given.
        """
        moment = time.monotonic() if now is None else now
        if now is None and moment < self._next_sweep:
            return
        self._next_sweep = moment + self.pool_idle_seconds
        for key, pool in list(self._pools.items()):
            if pool.active or moment - pool.last_used < self.pool_idle_seconds:
                continue
            for handle in pool.idle:
                handle.close()
            pool.multi.close()
            del self._pools[key]
            log.debug(
                "closed a connection pool unused for %.0f s", moment - pool.last_used
            )

    def close(self) -> None:
        """Close every handle and connection; the executor cannot be used after."""
        for active in list(self._active.values()):
            active.pool.multi.remove_handle(active.transfer.handle)
            active.transfer.handle.close()
        self._active.clear()
        for pool in self._pools.values():
            for handle in pool.idle:
                handle.close()
            pool.multi.close()
        self._pools.clear()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _start_waiting(self) -> bool:
        """Start queued calls within both limits; return whether any started.

        Hosts take turns, one call each, so calls planned across many hosts run
        spread over them and each host needs few connections.
        """
        with self._lock:
            incoming, self._incoming = self._incoming, deque()
        for request, callback in incoming:
            host = _host_key(request.url)
            self._waiting.setdefault(host, deque()).append((request, callback))
        started = False
        progress = True
        while progress and len(self._active) < self.concurrency:
            progress = False
            for host in list(self._waiting):
                if len(self._active) >= self.concurrency:
                    break
                if self._per_host.get(host, 0) >= self.per_host:
                    continue
                queue = self._waiting.pop(host)
                request, callback = queue.popleft()
                if queue:
                    self._waiting[host] = queue  # back of the line
                self._start(request, callback, host)
                started = progress = True
        return started

    def _start(self, request: Request, callback: Callback, host: str) -> None:
        pool = self._pool(request)
        handle = pool.idle.pop() if pool.idle else pycurl.Curl()
        claimed = pool.connections.claim(host)
        try:
            transfer = Transfer(handle, request, inspect_tls=claimed is None)
        except pycurl.error as e:
            pool.connections.finished(claimed, host, None, -1, False)
            handle.reset()
            pool.idle.append(handle)
            response = Response(curl_code=e.args[0], curl_message=str(e.args[1]))
            _run_callback(callback, request, response)
            return
        pool.multi.add_handle(handle)
        pool.active += 1
        pool.last_used = time.monotonic()
        if transfer.inspect_tls:
            pool.inspecting.add(transfer)
        self._per_host[host] = self._per_host.get(host, 0) + 1
        self._active[handle] = _Active(transfer, pool, host, claimed, callback)
        self.max_active_seen = max(self.max_active_seen, len(self._active))

    def _pool(self, request: Request) -> _Pool:
        # CURLOPT_RESOLVE entries land in the multi handle's DNS cache, where they
        # would redirect other jobs' calls to the same host name.
        key = (request.tls.pool_key, request.resolve)
        pool = self._pools.get(key)
        if pool is None:
            multi = pycurl.CurlMulti()
            multi.setopt(pycurl.M_MAXCONNECTS, POOL_MAX_CONNECTIONS)
            # Calls to a host never exceed per_host, so this only makes libcurl
            # close an idle connection before it opens one more than that.
            multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, self.per_host)
            pool = self._pools[key] = _Pool(multi)
        return pool

    def _perform_all(self) -> None:
        for pool in self._pools.values():
            if pool.active:
                self._perform(pool)

    def _perform(self, pool: _Pool) -> None:
        while True:
            status, _ = pool.multi.perform()
            if status != pycurl.E_CALL_MULTI_PERFORM:
                break
        for transfer in list(pool.inspecting):
            _share_handshake(pool, transfer)
        done: list[tuple[pycurl.Curl, int, str]] = []
        while True:
            queued, succeeded, failed = pool.multi.info_read()
            done.extend((handle, 0, "") for handle in succeeded)
            done.extend(failed)
            if queued == 0:
                break
        for handle, code, message in done:
            self._finish(handle, code, message)

    def _finish(self, handle: pycurl.Curl, code: int, message: str) -> None:
        active = self._active.pop(handle)
        pool = active.pool
        transfer = active.transfer
        response = transfer.finish(code, message)
        _share_handshake(pool, transfer)
        pool.inspecting.discard(transfer)
        pool.multi.remove_handle(handle)
        pool.active -= 1
        pool.last_used = time.monotonic()
        self._per_host[active.host] -= 1
        _fill_tls_facts(pool, response)
        pool.connections.finished(
            active.claimed,
            active.host,
            response.connection_id,
            transfer.socket,
            response.http_version == "2",
        )
        if active.claimed is not None and not response.reused_connection:
            # NOTE: libcurl opened a connection although an idle one was expected,
            # because the server closed it moments before. The verbose log was off,
            # so the record has the server's chain but no TLS version or cipher.
            log.debug(
                "call to %s opened a connection unexpectedly; its record has no "
                "TLS version or cipher",
                transfer.request.url,
            )
        handle.reset()
        pool.idle.append(handle)
        _run_callback(active.callback, transfer.request, response)

    def _wait(self, max_wait_ms: int, transfers: bool = True) -> None:
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        timeout_ms = max_wait_ms
        for pool in self._pools.values() if transfers else ():
            if pool.active:
                timeout_ms = min(timeout_ms, _register(poller, pool.multi))
        events = poller.poll(timeout_ms)
        if any(fd == self._wake_read for fd, _ in events):
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_read, 4096):
                    pass


def _register(poller: select.poll, multi: pycurl.CurlMulti) -> int:
    """Add a multi handle's sockets to ``poller``; return how long it may wait."""
    reads, writes, errors = multi.fdset()
    for fd in set(reads) | set(writes) | set(errors):
        mask = select.POLLPRI
        if fd in reads:
            mask |= select.POLLIN
        if fd in writes:
            mask |= select.POLLOUT
        poller.register(fd, mask)
    timeout = int(multi.timeout())
    if timeout >= 0:
        return timeout
    # libcurl has nothing to wait on yet, for example while a resolver thread runs.
    return 10 if not (reads or writes or errors) else 100


def _share_handshake(pool: _Pool, transfer: Transfer) -> None:
    """Publish a new connection's handshake facts for calls that reuse it."""
    facts = transfer.take_handshake_facts()
    if facts is None:
        return
    pool.inspecting.discard(transfer)
    connection_id = transfer.handle.getinfo(pycurl.CONN_ID)
    if connection_id >= 0:
        pool.connections.remember(connection_id, facts)


def _fill_tls_facts(pool: _Pool, response: Response) -> None:
    """Copy handshake facts onto a call that reused a connection."""
    if response.connection_id is None or response.tls_version is not None:
        return
    facts = pool.connections.facts(response.connection_id)
    if facts is None:
        return
    response.tls_version = facts.version
    response.tls_cipher = facts.cipher
    if not response.server_certificates:
        response.server_certificates = list(facts.server_certificates)


def _run_callback(callback: Callback, request: Request, response: Response) -> None:
    """Run a callback; log its errors, except OutputError, which stops the loop.

    Records that cannot be written would be lost for every later call too, so
    the caller of ``step`` or ``run_until`` gets the error and ends the run.
    """
    try:
        callback(request, response)
    except OutputError:
        raise
    except Exception:
        log.exception("response callback failed for %s", request.url)


@functools.lru_cache(maxsize=4096)
def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 443}"
