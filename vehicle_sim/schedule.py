"""Which buses the fleet's ticker advances when: every bus once a pass, and in between the buses whose records are
due; in slices of a bounded size, so the network loop that runs the ticker serves its sockets between them. No I/O.
"""

import heapq
import math

# What a slice hands out: (bus index, whether it is the bus's turn in a pass over every bus).
Turn = tuple[int, bool]


class Schedule:
    """The turns of `buses` buses in monotonic seconds: a pass over all of them each `pass_every` s, plus the dues.

    The caller advances each bus `take` hands out and tells `scheduled` when that bus is due next.
    """

    def __init__(self, buses: int, pass_every: float) -> None:
        self._buses = buses
        self._pass_every = pass_every
        self._next_pass = -math.inf
        # The next bus of the pass under way, None between passes.
        self._cursor: int | None = None
        # (due, bus) of buses due before the pass after next; an entry whose due is no longer the bus's is stale.
        self._heap: list[tuple[float, int]] = []
        self._due_of = [math.inf] * buses

    def take(self, now: float, most: int) -> list[Turn]:
        """Up to `most` turns due at `now`: the pass's next buses first, then the buses whose records are due."""
        turns: list[Turn] = []
        if self._cursor is None and now >= self._next_pass:
            self._next_pass = now + self._pass_every
            self._cursor = 0
        if self._cursor is not None:
            end = min(self._buses, self._cursor + most)
            turns = [(bus, True) for bus in range(self._cursor, end)]
            self._cursor = end if end < self._buses else None
        while len(turns) < most and self._heap and self._heap[0][0] <= now:
            due, bus = heapq.heappop(self._heap)
            if due != self._due_of[bus]:
                continue
            self._due_of[bus] = math.inf
            turns.append((bus, False))
        return turns

    def scheduled(self, bus: int, due: float) -> None:
        """Bus `bus` is next due at `due`: it gets a turn then, unless the passes come first."""
        if due == self._due_of[bus]:
            return
        self._due_of[bus] = due
        # Beyond the next pass, that pass reschedules the bus anyway: the heap holds about two seconds of dues.
        if due < self._next_pass + self._pass_every:
            heapq.heappush(self._heap, (due, bus))

    def wake_at(self) -> float:
        """When the next turn is due: at once while a pass is under way."""
        if self._cursor is not None:
            return -math.inf
        return min(self._next_pass, self._heap[0][0]) if self._heap else self._next_pass
