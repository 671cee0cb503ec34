"""One thread driving the MQTT connections of a whole fleet: epoll over paho's sockets, paced connects, back-off.

paho's external-loop API: the loop reads a socket when epoll says it is readable, writes when paho has something
queued (`on_socket_register_write`, from whichever thread published), and calls `loop_misc` about once a second
for the keepalive. Connecting blocks (TCP connect, TLS handshake), so connection attempts run on a few connector
threads, started no faster than the connect rate overall; a connection lost is retried after a jittered
exponential back-off. Selector changes and the links' state are guarded by one lock, since paho calls the socket
callbacks from the thread that opens, queues or closes.
"""

import contextlib
import heapq
import itertools
import logging
import queue
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import paho.mqtt.client as mqtt

from fleet.mqtt.client import RECONNECT_MAX_SECONDS, RECONNECT_MIN_SECONDS

logger = logging.getLogger(__name__)

# Blocking connects in parallel: against a remote broker a TLS connect takes a few round trips, so one thread would
# cap the rate at about 10 a second at 50 ms; four keep the default rate within reach up to about 20 ms.
CONNECTOR_THREADS = 4
# paho's keepalive and its wait for a PINGRESP are checked this often (its own loop checks every second too).
MISC_INTERVAL_S = 1.0
# Each wait is stretched by a random 0-50 %, so a fleet that lost the broker together does not come back in step;
# never shorter than the back-off itself (fleet.mqtt.client's bounds, as paho's own loop has them).
JITTER = (1.0, 1.5)


class _Phase(Enum):
    """Where one client's connection stands, as the loop sees it."""

    IDLE = "idle"
    WAITING = "waiting"
    CONNECTING = "connecting"
    OPEN = "open"


@dataclass(eq=False, slots=True)
class _Link:
    """One paho client in the loop: whether it should be connected, its socket, its back-off."""

    client: mqtt.Client
    name: str
    phase: _Phase = _Phase.IDLE
    wanted: bool = False
    # A connection closed because the unit asked (a reboot) comes back without back-off.
    asked_to_close: bool = False
    failures: int = 0
    sock: Any = None
    writing: bool = False


@dataclass(order=True, slots=True)
class _Timer:
    """A call due at a monotonic time; `seq` keeps timers of the same time in order."""

    due: float
    seq: int
    call: Callable[[], object] = field(compare=False)


class NetworkLoop:
    """The network thread of many paho clients; `attach` each, `connect` and `release` them, `close` at the end."""

    def __init__(self, connect_rate_per_second: float, rng: random.Random | None = None) -> None:
        if connect_rate_per_second <= 0:
            raise ValueError(f"connect_rate_per_second must be positive, got {connect_rate_per_second}")
        self._connect_gap = 1.0 / connect_rate_per_second
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._woken = False
        self._inbox: deque[Callable[[], object]] = deque()
        self._timers: list[_Timer] = []
        self._timer_seq = itertools.count()
        self._ready: deque[_Link] = deque()
        self._next_connect = 0.0
        self._links: dict[mqtt.Client, _Link] = {}
        self._open: set[_Link] = set()
        self._attempts: queue.SimpleQueue[_Link | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._connectors: list[threading.Thread] = []
        self._closing = False
        self._drained = threading.Event()
        self._stopped = False

    @property
    def open_connections(self) -> int:
        """Sockets open to the broker right now (connected or waiting for the CONNACK)."""
        with self._lock:
            return len(self._open)

    def start(self) -> None:
        """Start the loop thread and the connector threads."""
        self._thread = threading.Thread(target=self._run, name="sim-network", daemon=True)
        self._thread.start()
        for number in range(CONNECTOR_THREADS):
            connector = threading.Thread(target=self._connector, name=f"sim-connect-{number}", daemon=True)
            connector.start()
            self._connectors.append(connector)

    def attach(self, client: mqtt.Client, name: str) -> None:
        """Let the loop drive `client` (`name` in its log lines): its socket callbacks are the loop's from now on."""
        link = _Link(client, name)
        with self._lock:
            self._links[client] = link
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write

    def connect(self, client: mqtt.Client) -> None:
        """Keep `client` connected: connect it at the next free connect slot, and again whenever the link is lost."""
        link = self._links[client]
        with self._lock:
            link.wanted = True
            if link.phase is not _Phase.IDLE:
                return
            link.phase = _Phase.WAITING
        self._post(lambda: self._ready.append(link))

    def release(self, client: mqtt.Client) -> None:
        """Stop reconnecting `client`: the caller disconnects it (a clean stop, or a reboot) and may connect again."""
        link = self._links[client]
        with self._lock:
            link.wanted = False
            link.asked_to_close = True

    def call_later(self, delay: float, call: Callable[[], None]) -> None:
        """Run `call` on the loop thread `delay` seconds from now (dropped if the loop closes first)."""
        due = time.monotonic() + delay
        self._post(lambda: heapq.heappush(self._timers, _Timer(due, next(self._timer_seq), call)))

    def close(self, timeout: float) -> None:
        """Wait up to `timeout` for the released clients' sockets to close, then close what is left and stop."""
        if self._thread is None:
            self._shut()
            return
        self._closing = True
        self._wake()
        self._drained.wait(timeout)
        self._stopped = True
        self._wake()
        # The loop never blocks for longer than its select timeout, so it ends within a pass.
        self._thread.join()
        for _ in self._connectors:
            self._attempts.put(None)

    # --- any thread ---------------------------------------------------------------------------------

    def _post(self, call: Callable[[], object]) -> None:
        """Run `call` on the loop thread, in the order posted."""
        self._inbox.append(call)
        if threading.current_thread() is not self._thread:
            self._wake()

    def _wake(self) -> None:
        # One byte wakes the loop; more would only fill the socket while it is busy.
        if self._woken:
            return
        self._woken = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        link = self._links[client]
        with self._lock:
            if self._stopped:
                # A connect that outlived the loop: nobody would ever read this socket.
                sock.close()
                return
            if not link.wanted:
                # Released while connecting: the CONNECT goes out, and a DISCONNECT right behind it.
                self._post(client.disconnect)
            link.sock = sock
            link.writing = False
            link.phase = _Phase.OPEN
            self._open.add(link)
            self._selector.register(sock, selectors.EVENT_READ, link)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # Called just before paho closes the socket: it must leave the selector now, before its number is reused.
        link = self._links[client]
        was_connected = client.is_connected()
        with self._lock:
            if link.sock is not sock:
                return
            self._selector.unregister(sock)
            link.sock = None
            self._open.discard(link)
            asked, link.asked_to_close = link.asked_to_close, False
            if not link.wanted:
                link.phase = _Phase.IDLE
                return
            link.phase = _Phase.WAITING
            if was_connected:
                link.failures = 0
            delay = 0.0 if asked else self._backoff(link)
        self._post(lambda: self._retry(link, delay))

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        link = self._links[client]
        self._post(lambda: self._flush(link))

    def _backoff(self, link: _Link) -> float:
        """The wait before a link's next attempt, doubling with each failure in a row; the caller holds the lock."""
        ceiling = min(RECONNECT_MAX_SECONDS, RECONNECT_MIN_SECONDS * 2**link.failures)
        link.failures += 1
        return float(ceiling * self._rng.uniform(*JITTER))

    # --- connector threads --------------------------------------------------------------------------

    def _connector(self) -> None:
        while (link := self._attempts.get()) is not None:
            try:
                link.client.reconnect()
            except Exception as error:
                self._failed(link, error)

    def _failed(self, link: _Link, error: Exception) -> None:
        logger.debug("%s could not connect: %s", link.name, error)
        with self._lock:
            if link.phase is not _Phase.CONNECTING:
                return
            if not link.wanted:
                link.phase = _Phase.IDLE
                return
            link.phase = _Phase.WAITING
            delay = self._backoff(link)
        self._post(lambda: self._retry(link, delay))

    # --- the loop thread ----------------------------------------------------------------------------

    def _retry(self, link: _Link, delay: float) -> None:
        due = time.monotonic() + delay
        heapq.heappush(self._timers, _Timer(due, next(self._timer_seq), lambda: self._ready.append(link)))

    def _run(self) -> None:
        next_misc = time.monotonic() + MISC_INTERVAL_S
        while not self._stopped:
            now = time.monotonic()
            wait = next_misc - now
            if self._timers:
                wait = min(wait, self._timers[0].due - now)
            if self._ready:
                wait = min(wait, self._next_connect - now)
            if self._inbox:
                wait = 0.0
            for key, events in self._selector.select(max(0.0, wait)):
                link = key.data
                if link is None:
                    self._drain_wake()
                    continue
                if events & selectors.EVENT_READ:
                    self._read(link, key.fileobj)
                if events & selectors.EVENT_WRITE and link.sock is key.fileobj:
                    self._flush(link)
            self._drain_inbox()
            now = time.monotonic()
            while self._timers and self._timers[0].due <= now:
                self._call(heapq.heappop(self._timers).call)
            self._start_connects(now)
            if now >= next_misc:
                next_misc = now + MISC_INTERVAL_S
                self._misc()
            if self._closing and not self.open_connections:
                self._drained.set()
        self._shut()

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass
        # Only once the bytes are gone: a wake-up sent while draining would be swallowed, and none sent again.
        self._woken = False

    def _drain_inbox(self) -> None:
        # Only what is there now: a call that posts another runs it on the next pass.
        for _ in range(len(self._inbox)):
            self._call(self._inbox.popleft())

    def _call(self, call: Callable[[], object]) -> None:
        try:
            call()
        except Exception:
            # Raised here, it would end the network of every bus.
            logger.exception("the network loop caught an error")

    def _read(self, link: _Link, sock: Any) -> None:
        """Read what arrived; TLS may hold decrypted bytes that epoll cannot see, so read those too."""
        client = link.client
        while client.loop_read() == mqtt.MQTT_ERR_SUCCESS and client.socket() is sock:
            pending = getattr(sock, "pending", None)
            if pending is None or pending() == 0:
                return

    def _flush(self, link: _Link) -> None:
        """Write what paho has queued, and watch for writability only while some of it is left."""
        client = link.client
        sock = link.sock
        if sock is None or client.socket() is not sock:
            return
        client.loop_write()
        wanted = client.want_write()
        with self._lock:
            if link.sock is sock and link.writing != wanted:
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
                self._selector.modify(sock, events, link)
                link.writing = wanted

    def _start_connects(self, now: float) -> None:
        """Hand the links waiting to connect to the connectors, one per connect slot."""
        while self._ready and now >= self._next_connect:
            link = self._ready.popleft()
            with self._lock:
                if not link.wanted:
                    link.phase = _Phase.IDLE
                    continue
                if link.phase is not _Phase.WAITING:
                    continue
                link.phase = _Phase.CONNECTING
            # A slightly late wake-up keeps the cadence; after a pause the next slot is a full gap on, so never more
            # than one connect above the rate in any second.
            on_time = now - self._next_connect <= self._connect_gap / 2
            self._next_connect = (self._next_connect if on_time else now) + self._connect_gap
            self._attempts.put(link)

    def _misc(self) -> None:
        with self._lock:
            links = list(self._open)
        for link in links:
            link.client.loop_misc()

    def _shut(self) -> None:
        """Close every socket still open (their units did not get their DISCONNECT out in time)."""
        with self._lock:
            left = list(self._open)
            self._open.clear()
            for link in left:
                link.wanted = False
                self._selector.unregister(link.sock)
                link.sock.close()
                link.sock = None
                link.phase = _Phase.IDLE
            self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        if left:
            logger.info("closed %d connections that had not finished their clean disconnect", len(left))
