"""The CLI's error lines."""

import pytest
from pydantic import ValidationError

from cli.main import describe_settings_error
from fleet.settings import IngestSettings


def test_a_refused_setting_is_named_by_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_INGEST_BATCH_MAX_MESSAGES", "40000")
    with pytest.raises(ValidationError) as refused:
        IngestSettings()

    assert describe_settings_error(refused.value) == (
        "FLEET_INGEST_BATCH_MAX_MESSAGES: Input should be less than or equal to 32767"
    )
