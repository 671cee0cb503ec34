"""Seeded 3G coverage of one bus: now and then a drop-out of 10 to 60 seconds; no I/O."""

import random
from datetime import datetime

# No drop-out starts this early in a run, so a demo shows every bus right away.
GRACE_S = 20.0
# Length of a drop-out: a tunnel, an underpass, a cell hand-over gone wrong.
DROPOUT_S = (10.0, 60.0)


class Coverage:
    """Whether a bus has mobile coverage, asked with the simulated time, which must not go backwards."""

    def __init__(self, rng: random.Random, probability_per_minute: float, start: datetime) -> None:
        # The chance that a drop-out starts within any minute of coverage; at 1.0 a new one starts as soon as
        # the previous one ends, so after the grace period the bus is practically never covered.
        if not 0.0 <= probability_per_minute <= 1.0:
            raise ValueError(f"probability_per_minute must be within [0, 1], got {probability_per_minute}")
        self._rng = rng
        self._probability = probability_per_minute
        self._start = start
        self._checked_s = 0.0
        self._outage_until_s: float | None = None

    def covered(self, now: datetime) -> bool:
        """Whether the bus has coverage at `now`; may start a drop-out."""
        elapsed = (now - self._start).total_seconds()
        if self._outage_until_s is not None:
            if elapsed < self._outage_until_s:
                self._checked_s = max(self._checked_s, elapsed)
                return False
            # Time spent in the drop-out does not count towards the next one.
            self._checked_s = max(self._checked_s, self._outage_until_s)
            self._outage_until_s = None
        # Only the time past the grace period counts towards the chance of a new drop-out.
        exposed = elapsed - max(self._checked_s, GRACE_S)
        self._checked_s = max(self._checked_s, elapsed)
        if exposed <= 0:
            return True
        # Chance of at least one drop-out starting in `exposed` seconds at the given rate per minute.
        chance = 1.0 - (1.0 - self._probability) ** (exposed / 60.0)
        if self._rng.random() < chance:
            self._outage_until_s = elapsed + self._rng.uniform(*DROPOUT_S)
            return False
        return True

    @property
    def outage_seconds_left(self) -> float | None:
        """Seconds of the current drop-out still to go as of the last check, or None with coverage."""
        if self._outage_until_s is None:
            return None
        return max(0.0, self._outage_until_s - self._checked_s)
