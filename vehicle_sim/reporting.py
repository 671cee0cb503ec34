"""When one bus sends its pos and can records; the `set_reporting` command changes it while the fleet runs."""

import logging
import threading

logger = logging.getLogger(__name__)


class Reporting:
    """A bus's pos and can intervals and its next deadlines, in the fleet ticker's monotonic seconds.

    The ticker polls it on each pass; `change` comes from the device's MQTT network thread.
    """

    def __init__(self, pos_interval_seconds: float, can_interval_seconds: float, stagger: float = 0.0) -> None:
        """`stagger` (0 to 1) is the share of each interval the first records wait after the first poll."""
        if not 0.0 <= stagger < 1.0:
            raise ValueError(f"stagger must be within [0, 1), got {stagger}")
        self._lock = threading.Lock()
        self._pos_every = pos_interval_seconds
        self._can_every = can_interval_seconds
        self._stagger = stagger
        # None until the first poll, which sets the first deadlines.
        self._next_pos: float | None = None
        self._next_can: float | None = None

    def change(self, pos_interval_seconds: float | None, can_interval_seconds: float | None) -> tuple[float, float]:
        """Set the intervals given (None keeps one); the pos and can intervals now in force."""
        with self._lock:
            if pos_interval_seconds is not None:
                self._pos_every = pos_interval_seconds
            if can_interval_seconds is not None:
                self._can_every = can_interval_seconds
            return self._pos_every, self._can_every

    def poll(self, now: float) -> tuple[bool, bool, float]:
        """Whether pos and can records are due at `now`, and when the next one is; the due ones are scheduled on."""
        with self._lock:
            if self._next_pos is None or self._next_can is None:
                self._next_pos = now + self._stagger * self._pos_every
                self._next_can = now + self._stagger * self._can_every
            pos_due, self._next_pos = _due(self._next_pos, self._pos_every, now)
            can_due, self._next_can = _due(self._next_can, self._can_every, now)
            return pos_due, can_due, min(self._next_pos, self._next_can)


def _due(deadline: float, interval: float, now: float) -> tuple[bool, float]:
    """Whether a stream is due at `now`, and its deadline after this pass."""
    # An interval shortened by `set_reporting` applies at once, not after the rest of the longer one.
    deadline = min(deadline, now + interval)
    if now < deadline:
        return False, deadline
    return True, _next_deadline(deadline, interval, now)


def _next_deadline(previous: float, interval: float, now: float) -> float:
    """The next tick time; a ticker that fell behind skips the missed ticks rather than bursting."""
    following = previous + interval
    if following <= now:
        logger.debug("ticker fell %.2f s behind; skipping missed ticks", now - following)
        return now + interval
    return following
