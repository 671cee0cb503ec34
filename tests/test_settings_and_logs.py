"""Shared settings: embedded defaults, production guards, and the log format each environment gets."""

import json
import logging

import pytest

from fleet.logs import configure_logging
from fleet.settings import SharedSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLEET_ENVIRONMENT", "FLEET_LOG_FORMAT", "FLEET_DATABASE_URL", "FLEET_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_development_defaults_to_sqlite_and_text_logs() -> None:
    settings = SharedSettings()
    assert settings.database_url.startswith("sqlite:///") and settings.log_format == "text"


def test_production_refuses_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_ENVIRONMENT", "production")
    with pytest.raises(ValueError, match="PostgreSQL"):
        SharedSettings()


def test_production_logs_json_lines_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLEET_ENVIRONMENT", "production")
    monkeypatch.setenv("FLEET_DATABASE_URL", "postgresql+psycopg://fleet@db/fleet")
    settings = SharedSettings()
    assert settings.log_format == "json"
    configure_logging(settings.log_format, settings.log_level)
    try:
        logging.getLogger("fleet.test").warning("broker %s unreachable", "mqtt://x")
    finally:
        logging.getLogger().handlers.clear()
    line = json.loads(capsys.readouterr().err.strip())
    assert line["level"] == "WARNING" and line["message"] == "broker mqtt://x unreachable"
    assert line["logger"] == "fleet.test" and line["ts"].endswith("+00:00")

    monkeypatch.setenv("FLEET_LOG_FORMAT", "text")
    assert SharedSettings().log_format == "text"
