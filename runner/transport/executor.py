"""Run many transfers at once on pycurl's multi interface.

Connections and TLS sessions live in a libcurl multi handle, so each pool key
(identity, truststore and HTTP version) gets a multi handle of its own: a
connection opened with one client certificate can never carry a call made with
another. Easy handles are kept per pool and reused, so connections persist across
calls and across scheduled ticks while the executor lives.

The executor runs in one thread. ``submit`` may be called from any thread; it
wakes the loop through a pipe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pycurl

from runner.transport.request import Request, Response, ServerCertificate
from runner.transport.transfer import Transfer

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16
IDLE_POLL_MS = 1000
# Connections each pool keeps open between calls; libcurl closes the oldest beyond.
POOL_MAX_CONNECTIONS = 64

Callback = Callable[[Request, Response], None]


@dataclass(frozen=True)
class _TlsFacts:
    version: str | None
    cipher: str | None
    server_certificates: list[ServerCertificate]


@dataclass
class _Pool:
    multi: pycurl.CurlMulti
    idle: list[pycurl.Curl] = field(default_factory=list)
    active: int = 0
    # Handshake facts per connection id, for calls that reuse a connection and so
    # see no handshake of their own.
    tls_facts: dict[int, _TlsFacts] = field(default_factory=dict)


@dataclass
class _Active:
    transfer: Transfer
    pool: _Pool
    host: str
    callback: Callback


class Executor:
    """Run Requests concurrently and report each Response through a callback."""

    def __init__(
        self, concurrency: int = DEFAULT_CONCURRENCY, per_host: int | None = None
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.per_host = per_host or concurrency
        self._pending: deque[tuple[Request, Callback]] = deque()
        self._pools: dict[str, _Pool] = {}
        self._active: dict[pycurl.Curl, _Active] = {}
        self._per_host: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.max_active_seen = 0

    def submit(self, request: Request, callback: Callback) -> None:
        """Queue a request; ``callback`` runs in the executor's thread when done."""
        with self._lock:
            self._pending.append((request, callback))
        # A full pipe means the loop is awake already.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"\0")

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending) or bool(self._active)

    def run_until_idle(self) -> None:
        """Drive transfers until nothing is queued or in flight."""
        while self.busy:
            self.step(IDLE_POLL_MS)

    def run_until(self, stop: threading.Event) -> None:
        """Drive transfers until ``stop`` is set and every transfer has finished."""
        while not stop.is_set() or self.busy:
            self.step(IDLE_POLL_MS)

    def step(self, max_wait_ms: int) -> None:
        """Start what the limits allow, advance transfers, then wait for activity."""
        self._start_pending()
        for pool in self._pools.values():
            if pool.active:
                self._perform(pool)
        self._start_pending()
        self._wait(max_wait_ms)

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

    def _start_pending(self) -> None:
        deferred: list[tuple[Request, Callback]] = []
        while len(self._active) < self.concurrency:
            with self._lock:
                if not self._pending:
                    break
                request, callback = self._pending.popleft()
            host = _host_key(request.url)
            if self._per_host.get(host, 0) >= self.per_host:
                deferred.append((request, callback))
                continue
            self._start(request, callback, host)
        if deferred:
            with self._lock:
                self._pending.extendleft(reversed(deferred))

    def _start(self, request: Request, callback: Callback, host: str) -> None:
        pool = self._pool(request.tls.pool_key)
        handle = pool.idle.pop() if pool.idle else pycurl.Curl()
        try:
            transfer = Transfer(handle, request)
        except pycurl.error as e:
            handle.reset()
            pool.idle.append(handle)
            response = Response(curl_code=e.args[0], curl_message=str(e.args[1]))
            callback(request, response)
            return
        pool.multi.add_handle(handle)
        pool.active += 1
        self._per_host[host] = self._per_host.get(host, 0) + 1
        self._active[handle] = _Active(transfer, pool, host, callback)
        self.max_active_seen = max(self.max_active_seen, len(self._active))

    def _pool(self, key: str) -> _Pool:
        pool = self._pools.get(key)
        if pool is None:
            multi = pycurl.CurlMulti()
            multi.setopt(pycurl.M_MAXCONNECTS, POOL_MAX_CONNECTIONS)
            pool = self._pools[key] = _Pool(multi)
        return pool

    def _perform(self, pool: _Pool) -> None:
        while True:
            status, _ = pool.multi.perform()
            if status != pycurl.E_CALL_MULTI_PERFORM:
                break
        while True:
            queued, succeeded, failed = pool.multi.info_read()
            for handle in succeeded:
                self._finish(handle, 0, "")
            for handle, code, message in failed:
                self._finish(handle, code, message)
            if queued == 0:
                break

    def _finish(self, handle: pycurl.Curl, code: int, message: str) -> None:
        active = self._active.pop(handle)
        pool = active.pool
        pool.multi.remove_handle(handle)
        pool.active -= 1
        self._per_host[active.host] -= 1
        response = active.transfer.finish(code, message)
        _share_tls_facts(pool, response)
        handle.reset()
        pool.idle.append(handle)
        try:
            active.callback(active.transfer.request, response)
        except Exception:
            log.exception(
                "response callback failed for %s", active.transfer.request.url
            )

    def _wait(self, max_wait_ms: int) -> None:
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        timeout_ms = max_wait_ms
        for pool in self._pools.values():
            if not pool.active:
                continue
            reads, writes, errors = pool.multi.fdset()
            for fd in set(reads) | set(writes) | set(errors):
                mask = 0
                if fd in reads:
                    mask |= select.POLLIN
                if fd in writes:
                    mask |= select.POLLOUT
                poller.register(fd, mask | select.POLLPRI)
            pool_timeout = pool.multi.timeout()
            if pool_timeout >= 0:
                timeout_ms = min(timeout_ms, pool_timeout)
            elif not (reads or writes or errors):
                timeout_ms = min(timeout_ms, 10)  # libcurl has nothing to wait on yet
        if self._active and timeout_ms == max_wait_ms:
            timeout_ms = min(timeout_ms, 100)
        events = poller.poll(timeout_ms)
        if any(fd == self._wake_read for fd, _ in events):
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_read, 4096):
                    pass


def _share_tls_facts(pool: _Pool, response: Response) -> None:
    """Copy handshake facts onto calls that reused a connection; remember new ones."""
    connection = response.connection_id
    if connection is None:
        return
    if response.tls_version is not None:
        pool.tls_facts[connection] = _TlsFacts(
            response.tls_version, response.tls_cipher, response.server_certificates
        )
        if len(pool.tls_facts) > 4 * POOL_MAX_CONNECTIONS:
            pool.tls_facts.pop(next(iter(pool.tls_facts)))
        return
    known = pool.tls_facts.get(connection)
    if known is not None:
        response.tls_version = known.version
        response.tls_cipher = known.cipher
        if not response.server_certificates:
            response.server_certificates = known.server_certificates


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 443}"
