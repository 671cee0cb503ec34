"""Configuration from the environment: shared settings plus one class per service, embedded defaults."""

import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".fleet-data")


class SharedSettings(BaseSettings):
    """Settings every service reads (prefix `FLEET_`)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # TLS (with an mqtts:// URL): the CA that signed the broker's certificate, else the system's CAs; a client
    # certificate and key when the broker identifies clients by certificate.
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    # Default: JSON lines in production (for log collectors), readable text otherwise.
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _json_logs_in_production(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("environment") == "production":
            data.setdefault("log_format", "json")
        return data

    @model_validator(mode="after")
    def _default_database(self) -> "SharedSettings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'fleet.db'}"
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            raise ValueError("FLEET_DATABASE_URL must name a PostgreSQL database in production")
        return self


def _default_client_id() -> str:
    # The host name is the pod name in a StatefulSet, so the id (and the broker session) survives restarts.
    return f"fleet-ingest-{socket.gethostname()}"[:64]


class IngestSettings(BaseSettings):
    """Settings of `fleet ingest` (prefix `FLEET_INGEST_`)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_INGEST_", extra="ignore")

    client_id: str = _default_client_id()
    # Empty: a plain subscription, which survives a broker restart losslessly. Replicas set a group name
    # to split the load; mosquitto 2.0 drops what arrives for a $share group between its restart and the
    # members' reconnect (docs/reliability.md).
    share_group: str = ""
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = "auto"
    session_expiry_seconds: int = 7 * 24 * 3600
    batch_max_messages: int = 500
    batch_max_seconds: float = 0.2
    max_payload_bytes: int = 256 * 1024
    max_future_seconds: float = 300.0
    max_record_age_hours: float = 30 * 24.0
    http_host: str = "127.0.0.1"
    http_port: int = 9102


class ApiSettings(BaseSettings):
    """Settings of `fleet api` (prefix `FLEET_API_`)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    # An online vehicle that sent nothing for this long counts as silent (fleet_api_vehicles{state="silent"}).
    silent_after_seconds: float = 300.0


class SimSettings(BaseSettings):
    """Settings of `fleet sim` (prefix `FLEET_SIM_`)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_SIM_", extra="ignore")

    vehicles: int = 20
    prefix: str = "sim-"
    pos_interval_seconds: float = 1.0
    can_interval_seconds: float = 5.0
    dropout_probability_per_minute: float = 0.05
    seed: int | None = None
