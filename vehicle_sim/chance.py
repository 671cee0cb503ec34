"""Things that happen now and then, at a rate per hour of the time they can happen in; no I/O."""

import random

HOUR_S = 3600.0


class Occurrences:
    """A Poisson process over exposure time: `due` counts exposure down to the next occurrence."""

    def __init__(self, rng: random.Random, per_hour: float) -> None:
        if per_hour < 0:
            raise ValueError(f"per_hour must not be negative, got {per_hour}")
        self._rng = rng
        self._per_s = per_hour / HOUR_S
        # Exposure left before the next occurrence, in expected occurrences: exponential gaps.
        self._left = rng.expovariate(1.0)

    def due(self, exposed_s: float) -> bool:
        """Count `exposed_s` seconds of exposure; True when the next occurrence falls within them."""
        self._left -= exposed_s * self._per_s
        if self._left > 0:
            return False
        self._left = self._rng.expovariate(1.0)
        return True
