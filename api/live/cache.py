"""The answer of `GET /v1/live`, kept per tenant for FLEET_API_LIVE_CACHE_SECONDS.

Every dashboard of a tenant polls the same list, which changes with every fix the fleet sends: kept for a second,
one query and one serialisation serve all the polls of that second, and the requests arriving while it is being
made wait for it instead of making their own. An answer is at most that old (the live feed itself sends a
vehicle's position at most every FLEET_INGEST_LIVE_POSITION_INTERVAL_SECONDS); `GET /v1/stream` pushes changes as
they commit. The requests are still authenticated one by one; 0 turns the cache off.
"""

import threading
import time
from collections.abc import Callable


class LiveCache:
    """Serialised answers by tenant, each reused for `seconds` from when its query started."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._answers: dict[int, tuple[float, bytes]] = {}
        self._making: dict[int, threading.Lock] = {}
        # Endpoints run in worker threads.
        self._lock = threading.Lock()

    def answer(self, tenant_id: int, make: Callable[[], bytes]) -> bytes:
        """The tenant's answer made within `seconds`, else `make()`'s, made once however many ask at the time."""
        if self.seconds <= 0:
            return make()
        with self._lock:
            if (fresh := self._fresh(tenant_id)) is not None:
                return fresh
            making = self._making.setdefault(tenant_id, threading.Lock())
        with making:
            with self._lock:
                if (fresh := self._fresh(tenant_id)) is not None:
                    return fresh
            started = self._clock()
            body = make()
            with self._lock:
                self._answers = {
                    tenant: kept for tenant, kept in self._answers.items() if started - kept[0] < self.seconds
                }
                self._answers[tenant_id] = (started, body)
            return body

    def fresh(self, tenant_id: int) -> bytes | None:
        """The tenant's answer when one made within `seconds` is kept (never with the cache off)."""
        with self._lock:
            return self._fresh(tenant_id)

    def _fresh(self, tenant_id: int) -> bytes | None:
        kept = self._answers.get(tenant_id)
        if kept is None or self._clock() - kept[0] >= self.seconds:
            return None
        return kept[1]
