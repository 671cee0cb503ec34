"""One client's place in its tenant's stream: a bounded buffer of messages the hub offers and the response takes."""

import asyncio
from collections import deque
from collections.abc import Collection
from enum import StrEnum

from api.stream.repository import FeedRow


class Ended(StrEnum):
    """Why a stream ends from the server's side."""

    TOO_SLOW = "too_slow"
    SHUTDOWN = "shutdown"


class Subscription:
    """Messages of `kinds` (None: all) waiting for one client, at most `capacity`; past that it ends TOO_SLOW."""

    def __init__(self, kinds: Collection[str] | None, capacity: int) -> None:
        self.kinds = frozenset(kinds) if kinds is not None else None
        self.ended: Ended | None = None
        # The client has every message up to this id already (read while catching up).
        self.floor = 0
        self._capacity = capacity
        self._items: deque[FeedRow] = deque()
        self._signal = asyncio.Event()

    def offer(self, row: FeedRow) -> None:
        """Buffer `row` if the client wants its kind; a full buffer ends the subscription instead."""
        if self.ended is not None or row.id <= self.floor or (self.kinds is not None and row.kind not in self.kinds):
            return
        if len(self._items) >= self._capacity:
            # The client resumes from its Last-Event-ID, read from the database instead of this process's memory.
            self.end(Ended.TOO_SLOW)
            return
        self._items.append(row)
        self._signal.set()

    def end(self, why: Ended) -> None:
        """Take no more messages; the client gets those buffered, then the stream closes."""
        if self.ended is None:
            self.ended = why
        self._signal.set()

    async def take(self, timeout: float) -> list[FeedRow]:
        """The buffered messages, waiting up to `timeout` for one; empty on a timeout or once ended."""
        if not self._items and self.ended is None:
            try:
                await asyncio.wait_for(self._signal.wait(), timeout)
            except TimeoutError:
                return []
        self._signal.clear()
        items = list(self._items)
        self._items.clear()
        return items
