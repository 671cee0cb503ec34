"""A long-running service's heap: what is alive when it starts serving is left out of the collector's passes."""

import gc

import pytest

from fleet.heap import YOUNG_THRESHOLD, freeze_long_lived


@pytest.mark.usefixtures("thawed_collector")
def test_what_is_alive_at_the_freeze_leaves_the_generations_and_young_passes_come_less_often() -> None:
    long_lived = [bytearray(1)]

    freeze_long_lived()

    assert gc.get_freeze_count() > 0
    assert not any(tracked is long_lived for tracked in gc.get_objects()), "a full pass would rescan it"
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    created_later = [bytearray(1)]
    assert any(tracked is created_later for tracked in gc.get_objects()), "what comes later is collected as usual"
