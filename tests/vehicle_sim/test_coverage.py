"""3G drop-outs: never in the first 20 s, 10-60 s long, deterministic per seed."""

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from vehicle_sim.coverage import DROPOUT_S, GRACE_S, Coverage

START = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)


def timeline(coverage: Coverage, seconds: int) -> list[bool]:
    """Coverage sampled once per simulated second."""
    return [coverage.covered(START + timedelta(seconds=s)) for s in range(seconds)]


def test_no_dropout_in_the_grace_period_even_when_certain() -> None:
    states = timeline(Coverage(random.Random(1), 1.0, START), int(GRACE_S))
    assert all(states)


def test_dropouts_last_10_to_60_seconds_then_coverage_returns() -> None:
    states = timeline(Coverage(random.Random(2), 0.9, START), 600)
    first_loss = states.index(False)
    assert first_loss >= GRACE_S
    back = states.index(True, first_loss)
    assert DROPOUT_S[0] <= back - first_loss <= DROPOUT_S[1] + 1


def test_probability_zero_never_drops() -> None:
    assert all(timeline(Coverage(random.Random(3), 0.0, START), 3600))


def test_rate_is_per_minute() -> None:
    # At 0.5 per minute, an hour of coverage sees on the order of 20 drop-outs (fewer: outages are not exposed).
    states = timeline(Coverage(random.Random(4), 0.5, START), 3600)
    starts = sum(1 for a, b in itertools.pairwise(states) if a and not b)
    assert 5 <= starts <= 40


def test_same_seed_same_dropouts() -> None:
    a = timeline(Coverage(random.Random(5), 0.3, START), 1200)
    b = timeline(Coverage(random.Random(5), 0.3, START), 1200)
    assert a == b


def test_probability_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        Coverage(random.Random(6), 1.5, START)
