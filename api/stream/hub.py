"""The fan-out of one API process: per tenant with open streams one reader of the feed, shared by its streams.

A tenant's reader wakes when the listener hears the tenant's NOTIFY (`api.stream.listener`), and every POLL_SECONDS
anyway (SQLITE_POLL_SECONDS on SQLite, which has no NOTIFY), reads the messages after the last one it delivered in
one query, and offers them to each of the tenant's streams. A stream reads what it missed (Last-Event-ID) itself,
page by page, then joins the reader at the reader's position.

Ordering. Ids are taken at insert but transactions commit in any order, so a message may become visible after one
with a higher id. Reading "after the last id seen" would skip it for good. The reader therefore holds every message
back SETTLE seconds (FLEET_LIVE_SETTLE_SECONDS) after it first read it, reads again from its last *delivered* id
(the held-back messages come again and are recognised by id), and delivers in id order only a run of settled
messages: a message committed within that time after a higher one still goes out in order, without duplicates.
Its own clock decides, not `created_at` (another host's clock). SQLite has one writer at a time, whose transaction
holds the write lock from its insert to its commit, so its commits are in id order and nothing is held back.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection
from functools import partial
from typing import TypeVar

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker

from api.stream import repository
from api.stream.listener import listen
from api.stream.repository import FeedRow, Resume
from api.stream.subscription import Ended, Subscription
from fleet.errors import Unavailable
from fleet.settings import LiveSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")

# With LISTEN a missed notification (the listener reconnecting) costs at most this; SQLite only polls.
POLL_SECONDS = 1.0
SQLITE_POLL_SECONDS = 0.5
# Messages one read of a tenant's reader returns (the held-back ones included): up to this many every settle time.
READ_LIMIT = 5000
# Messages a catching-up stream reads at once.
CATCH_UP_PAGE = 1000
# How long a new stream waits for its tenant's reader to find the newest message.
READY_TIMEOUT_SECONDS = 10.0


class TooManyStreams(Exception):
    """This process serves FLEET_LIVE_MAX_STREAMS streams already."""


class Reads:
    """Queries of the feed in a worker thread, each in a session of its own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def __call__(self, query: Callable[..., T], *args: object) -> T:
        """`query(session, *args)`'s answer, run off the event loop."""
        return await anyio.to_thread.run_sync(partial(self._run, query, *args))

    def _run(self, query: Callable[..., T], *args: object) -> T:
        with self._sessions() as session:
            return query(session, *args)


class TenantFeed:
    """The reader of one tenant's messages, and the streams it delivers them to."""

    def __init__(self, reads: Reads, tenant_id: int, poll_seconds: float, settle_seconds: float) -> None:
        self.tenant_id = tenant_id
        # Streams using this reader, live or still catching up: the reader stops with the last.
        self.members: set[Subscription] = set()
        # The live ones among them.
        self.subscribers: set[Subscription] = set()
        # The newest message delivered: live subscribers get everything after it.
        self.delivered = 0
        self.ready = asyncio.Event()
        self._reads = reads
        self._poll = poll_seconds
        self._settle = settle_seconds
        self._wake = asyncio.Event()
        self._held: dict[int, tuple[FeedRow, float]] = {}
        self._task = asyncio.create_task(self._run(), name=f"live-feed-{tenant_id}")

    def wake(self) -> None:
        """Read now: the tenant's messages changed."""
        self._wake.set()

    def close(self) -> None:
        """Stop reading."""
        self._task.cancel()

    async def _run(self) -> None:
        while not self.ready.is_set():
            try:
                self.delivered = await self._reads(repository.newest_id, self.tenant_id)
                self.ready.set()
            except Exception as error:
                logger.warning("live feed of tenant %s unreadable, retrying: %s", self.tenant_id, error)
                await asyncio.sleep(self._poll)
        while True:
            await self._sleep()
            try:
                rows = await self._reads(repository.after, self.tenant_id, self.delivered, READ_LIMIT)
            except Exception as error:
                logger.warning("live feed of tenant %s unreadable, retrying: %s", self.tenant_id, error)
                continue
            if self._deliver(rows, time.monotonic()) and len(rows) == READ_LIMIT:
                self._wake.set()

    async def _sleep(self) -> None:
        timeout = self._poll
        if self._held:
            first_settled = min(seen for _row, seen in self._held.values()) + self._settle
            timeout = min(timeout, max(0.0, first_settled - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    def _deliver(self, rows: list[FeedRow], now: float) -> bool:
        """Hold the new rows back, deliver the run of settled ones in id order; whether any went out."""
        for row in rows:
            self._held.setdefault(row.id, (row, now))
        released = []
        for row_id in sorted(self._held):
            row, seen = self._held[row_id]
            if now - seen < self._settle:
                break
            released.append(row)
            del self._held[row_id]
        if not released:
            return False
        self.delivered = released[-1].id
        for subscription in list(self.subscribers):
            for row in released:
                subscription.offer(row)
            if subscription.ended is not None:
                self.subscribers.discard(subscription)
        return True


class Stream:
    """One client's stream: what it missed, read by itself, then its tenant's live messages."""

    def __init__(self, hub: "StreamHub", feed: TenantFeed, subscription: Subscription) -> None:
        self.subscription = subscription
        self._hub = hub
        self._feed = feed
        self._closed = False

    async def resume(self, last_event_id: int) -> Resume:
        """Where the client continues after `last_event_id`."""
        return await self._hub.reads(repository.resume, self._feed.tenant_id, last_event_id)

    def attach(self, after: int | None = None) -> int:
        """Take the live messages from now on (none up to `after`, which the client has); the reader's position."""
        self.subscription.floor = after if after is not None else self._feed.delivered
        self._feed.subscribers.add(self.subscription)
        return self._feed.delivered

    async def catch_up(self, after: int) -> AsyncIterator[list[FeedRow]]:
        """The messages after `after`, page by page, then attached to the live ones: none missing, none twice."""
        # Up to the reader's position without holding a buffer (a long backlog would overflow it), then attached
        # and the little the reader delivered meanwhile.
        attached, up_to = False, self._feed.delivered
        while self.subscription.ended is None:
            rows = await self._page(after, up_to)
            if rows:
                yield rows
            after = rows[-1].id if len(rows) == CATCH_UP_PAGE else max(after, up_to)
            if len(rows) < CATCH_UP_PAGE:
                if attached:
                    return
                attached, up_to = True, self.attach(after)
            elif not attached:
                up_to = self._feed.delivered

    def close(self) -> None:
        """Leave the tenant's reader (the last stream stops it)."""
        if not self._closed:
            self._closed = True
            self._hub.leave(self._feed, self.subscription)

    async def _page(self, after: int, up_to: int) -> list[FeedRow]:
        if after >= up_to:
            return []
        kinds = self.subscription.kinds
        return await self._hub.reads(repository.after, self._feed.tenant_id, after, CATCH_UP_PAGE, up_to, kinds)


class StreamHub:
    """The streams of one API process: a reader per tenant, the LISTEN connection on PostgreSQL, the limits."""

    def __init__(self, sessions: sessionmaker[Session], settings: LiveSettings, listen_url: str | None) -> None:
        self.settings = settings
        self.reads = Reads(sessions)
        self.open_streams = 0
        self._listen_url = listen_url
        self._poll = POLL_SECONDS if listen_url else SQLITE_POLL_SECONDS
        self._settle = settings.settle_seconds if listen_url else 0.0
        self._feeds: dict[int, TenantFeed] = {}
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    async def open(self, tenant_id: int, kinds: Collection[str] | None) -> Stream:
        """A stream of the tenant's messages; TooManyStreams past the limit, Unavailable while shutting down or
        when the feed cannot be read."""
        if self._closed:
            raise Unavailable("the server is shutting down; reconnect")
        if self.open_streams >= self.settings.max_streams:
            raise TooManyStreams
        if self._listen_url and self._listener is None:
            listener = listen(self._listen_url, self.wake, self.wake_all)
            self._listener = asyncio.create_task(listener, name="live-listen")
        feed = self._feeds.get(tenant_id)
        if feed is None:
            feed = self._feeds[tenant_id] = TenantFeed(self.reads, tenant_id, self._poll, self._settle)
        subscription = Subscription(kinds, self.settings.max_buffered_messages)
        feed.members.add(subscription)
        self.open_streams += 1
        try:
            await asyncio.wait_for(feed.ready.wait(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            self.leave(feed, subscription)
            raise Unavailable("the live feed cannot be read now; retry later") from None
        return Stream(self, feed, subscription)

    def leave(self, feed: TenantFeed, subscription: Subscription) -> None:
        """A stream ended."""
        feed.subscribers.discard(subscription)
        feed.members.discard(subscription)
        self.open_streams -= 1
        if not feed.members and self._feeds.get(feed.tenant_id) is feed:
            feed.close()
            del self._feeds[feed.tenant_id]

    def wake(self, tenant_id: int) -> None:
        """The tenant has new messages."""
        if (feed := self._feeds.get(tenant_id)) is not None:
            feed.wake()

    def wake_all(self) -> None:
        """Every tenant may have new messages (the listener just (re)connected)."""
        for feed in self._feeds.values():
            feed.wake()

    def close(self) -> None:
        """End every stream (each client gets what is buffered for it) and stop reading: the server shuts down."""
        self._closed = True
        for feed in self._feeds.values():
            for subscription in feed.members:
                subscription.end(Ended.SHUTDOWN)
            feed.close()
        if self._listener is not None:
            self._listener.cancel()
