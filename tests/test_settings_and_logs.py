"""Shared settings: embedded defaults, production and TLS guards, and the log format each environment gets."""

import json
import logging
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from fleet.logs import configure_logging
from fleet.settings import SharedSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FLEET_")]:
        monkeypatch.delenv(name)


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


@pytest.mark.parametrize(("given", "missing"), [("CERT", "KEY"), ("KEY", "CERT")])
def test_client_certificate_and_key_come_together(monkeypatch: pytest.MonkeyPatch, given: str, missing: str) -> None:
    monkeypatch.setenv(f"FLEET_MQTT_{given}_FILE", "/etc/fleet/tls/client.pem")
    with pytest.raises(ValidationError, match=f"FLEET_MQTT_{given}_FILE is set without FLEET_MQTT_{missing}_FILE"):
        SharedSettings()

    monkeypatch.setenv(f"FLEET_MQTT_{missing}_FILE", "/etc/fleet/tls/other.pem")
    settings = SharedSettings()
    assert settings.mqtt_cert_file is not None and settings.mqtt_key_file is not None


def test_empty_tls_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLEET_MQTT_CA_FILE", "FLEET_MQTT_CERT_FILE", "FLEET_MQTT_KEY_FILE"):
        monkeypatch.setenv(name, "")
    settings = SharedSettings()
    assert (settings.mqtt_ca_file, settings.mqtt_cert_file, settings.mqtt_key_file) == (None, None, None)
    assert SharedSettings(mqtt_ca_file=Path("ca.pem")).mqtt_ca_file == Path("ca.pem")


def test_a_bad_mqtt_url_is_refused_without_showing_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_MQTT_URL", "http://fleet:s3cret@broker:1883")
    with pytest.raises(ValidationError, match="FLEET_MQTT_URL must be") as refused:
        SharedSettings()
    assert "s3cret" not in str(refused.value)


def test_log_level_is_a_known_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_LOG_LEVEL", "debug")
    assert SharedSettings().log_level == "DEBUG"
    monkeypatch.setenv("FLEET_LOG_LEVEL", "verbose")
    with pytest.raises(ValidationError, match="FLEET_LOG_LEVEL must be one of"):
        SharedSettings()
