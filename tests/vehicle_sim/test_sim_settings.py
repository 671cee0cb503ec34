"""The bounds and defaults of the simulator's file and command settings (FLEET_SIM_ + the field name, upper case)."""

import math
from typing import Any

import pytest
from pydantic import ValidationError

from fleet.settings import DAY, SimSettings

OUT_OF_BOUNDS: list[tuple[str, Any]] = [
    ("tachograph_vu_interval_seconds", 0.5),
    ("tachograph_vu_interval_seconds", 90 * DAY + 1),
    ("tachograph_vu_interval_seconds", math.inf),
    ("tachograph_card_interval_seconds", 0),
    ("tachograph_card_interval_seconds", 28 * DAY + 1),
    ("tachograph_card_interval_seconds", math.nan),
    ("clips_per_hour", -1),
    ("clips_per_hour", 3601),
    ("clips_per_hour", math.inf),
    ("upload_interrupt_probability", -0.01),
    ("upload_interrupt_probability", 1.01),
    ("upload_interrupt_probability", math.nan),
    ("upload_workers", 0),
    ("upload_workers", 65),
    ("command_failure_probability", -0.01),
    ("command_failure_probability", 1.01),
    ("command_failure_probability", math.nan),
    ("clip_buffer_hours", 0),
    ("clip_buffer_hours", 30 * 24 + 1),
    ("clip_buffer_hours", math.inf),
    ("reboot_seconds", -1),
    ("reboot_seconds", 301),
    ("reboot_seconds", math.nan),
    ("event_rate_multiplier", -0.1),
    ("event_rate_multiplier", 1001),
    ("event_rate_multiplier", math.inf),
    ("terminus_layover_seconds", -1),
    ("terminus_layover_seconds", 3601),
    ("demo_panic_after_seconds", -1),
    ("demo_panic_after_seconds", DAY + 1),
    ("demo_panic_after_seconds", math.nan),
]

AT_THE_BOUNDS: list[tuple[str, Any]] = [
    ("tachograph_vu_interval_seconds", 1),
    ("tachograph_vu_interval_seconds", 90 * DAY),
    ("tachograph_card_interval_seconds", 1),
    ("tachograph_card_interval_seconds", 28 * DAY),
    ("clips_per_hour", 0),
    ("clips_per_hour", 3600),
    ("upload_interrupt_probability", 0),
    ("upload_interrupt_probability", 1),
    ("upload_workers", 1),
    ("upload_workers", 64),
    ("command_failure_probability", 0),
    ("command_failure_probability", 1),
    ("clip_buffer_hours", 0.01),
    ("clip_buffer_hours", 30 * 24),
    ("reboot_seconds", 0),
    ("reboot_seconds", 300),
    ("event_rate_multiplier", 0),
    ("event_rate_multiplier", 1000),
    ("terminus_layover_seconds", 0),
    ("terminus_layover_seconds", 3600),
    ("demo_panic_after_seconds", 0),
    ("demo_panic_after_seconds", DAY),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FLEET_SIM_ variable of the caller's shell leaks into these tests."""
    for name in list(SimSettings.model_fields):
        monkeypatch.delenv(f"FLEET_SIM_{name.upper()}", raising=False)


@pytest.mark.parametrize(("name", "value"), OUT_OF_BOUNDS, ids=lambda v: str(v)[:14])
def test_values_out_of_bounds_are_refused(name: str, value: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        SimSettings(**{name: value})
    assert refused.value.errors()[0]["loc"] == (name,)


@pytest.mark.parametrize(("name", "value"), AT_THE_BOUNDS, ids=lambda v: str(v)[:14])
def test_values_at_the_bounds_are_accepted(name: str, value: Any) -> None:
    SimSettings(**{name: value})


def test_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = SimSettings()
    assert (settings.tachograph_vu_interval_seconds, settings.tachograph_card_interval_seconds) == (3600, 1800)
    assert (settings.clips_per_hour, settings.upload_interrupt_probability, settings.upload_workers) == (10, 0.1, 4)
    monkeypatch.setenv("FLEET_SIM_CLIPS_PER_HOUR", "0")
    monkeypatch.setenv("FLEET_SIM_UPLOAD_INTERRUPT_PROBABILITY", "1")
    assert (SimSettings().clips_per_hour, SimSettings().upload_interrupt_probability) == (0, 1)
    assert (settings.command_failure_probability, settings.clip_buffer_hours, settings.reboot_seconds) == (0.05, 24, 5)
    monkeypatch.setenv("FLEET_SIM_REBOOT_SECONDS", "0")
    assert SimSettings().reboot_seconds == 0
    assert (settings.event_rate_multiplier, settings.terminus_layover_seconds) == (5, 360)
    assert settings.demo_panic_after_seconds is None
    monkeypatch.setenv("FLEET_SIM_DEMO_PANIC_AFTER_SECONDS", "3")
    assert SimSettings().demo_panic_after_seconds == 3
