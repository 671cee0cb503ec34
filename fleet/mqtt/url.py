"""Parse `mqtt://host:port` URLs (the FLEET_MQTT_URL setting)."""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 1883


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """Where and as whom to connect to the broker."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    # With TLS: the CA of the broker's certificate (else the system's), and a client certificate with its key.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """Return the endpoint of an `mqtt://` or `mqtts://` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"not an MQTT URL (expected mqtt://host:port): {url!r}")
    tls = parts.scheme == "mqtts"
    return MqttEndpoint(
        host=parts.hostname,
        port=parts.port or (8883 if tls else DEFAULT_PORT),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )
