"""The README configuration table names exactly the variables the settings read; the settings keep their bounds."""

import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

import fleet.settings
from fleet.contract.topics import DEVICE_ID_PATTERN
from fleet.settings import (
    ApiSettings,
    ArchiveSettings,
    BlobSettings,
    BrokerSettings,
    DispatcherSettings,
    FilesSettings,
    IngestSettings,
    LiveSettings,
    RetentionSettings,
    SharedSettings,
    SimSettings,
    WebhookSettings,
    WorkerSettings,
)
from vehicle_sim.fleet_sim import device_id_for

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = re.compile(r"^(#+)\s+Configuration\s*$")
# A cell split: on every | that is not escaped as \|.
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
VARIABLE_CELL = re.compile(r"`(FLEET_[A-Z0-9_]+)`")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FLEET_ variable of the caller's shell leaks into these tests."""
    for name in [n for n in os.environ if n.startswith("FLEET_")]:
        monkeypatch.delenv(name)


def table_variables(markdown: str) -> list[str]:
    """The variable of every row of the table in the Configuration section, in order."""
    lines = markdown.splitlines()
    starts = [(i, m) for i, line in enumerate(lines) if (m := HEADING.match(line))]
    assert len(starts) == 1, "README needs exactly one 'Configuration' heading"
    start, heading = starts[0]
    level = len(heading.group(1))
    section: list[str] = []
    for line in lines[start + 1 :]:
        if (m := re.match(r"^(#+)\s", line)) and len(m.group(1)) <= level:
            break
        section.append(line)
    table = [line for line in section if line.startswith("|")]
    assert len(table) >= 3, "no table in the Configuration section"
    header = [cell.strip() for cell in CELL_SEPARATOR.split(table[0].strip().strip("|"))]
    assert header[0] == "variable", f"first column must be 'variable', got {header}"
    assert set(table[1].replace("|", "").strip()) <= set("-: "), "second table line must be the separator"
    variables = []
    for row in table[2:]:
        first = CELL_SEPARATOR.split(row.strip().strip("|"))[0].strip()
        match = VARIABLE_CELL.fullmatch(first)
        assert match, f"a row must name exactly one variable in backticks in its first cell: {row!r}"
        variables.append(match.group(1))
    return variables


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class defined in fleet.settings."""
    return [
        obj
        for obj in vars(fleet.settings).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseSettings)
        and obj is not BaseSettings
        and obj.__module__ == fleet.settings.__name__
    ]


def environment_variables(cls: type[BaseSettings]) -> set[str]:
    """The environment variables `cls` reads (pydantic-settings is case-insensitive by default)."""
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        assert alias is None or isinstance(alias, str), f"{cls.__name__}.{name}: alias choices not supported here"
        # An alias replaces the prefixed name entirely.
        names.add((alias or f"{prefix}{name}").upper())
    return names


def table_differences(markdown: str, classes: list[type[BaseSettings]]) -> tuple[set[str], set[str]]:
    """Variables without a row, and rows naming no variable."""
    rows = table_variables(markdown)
    duplicates = {name for name in rows if rows.count(name) > 1}
    assert not duplicates, f"variables with more than one row: {sorted(duplicates)}"
    read = set().union(*(environment_variables(cls) for cls in classes))
    return read - set(rows), set(rows) - read


def test_every_settings_class_is_found() -> None:
    assert set(settings_classes()) == {
        SharedSettings,
        IngestSettings,
        DispatcherSettings,
        ApiSettings,
        SimSettings,
        BrokerSettings,
        BlobSettings,
        FilesSettings,
        WorkerSettings,
        LiveSettings,
        WebhookSettings,
        ArchiveSettings,
        RetentionSettings,
    }


def test_readme_table_lists_exactly_the_settings() -> None:
    missing, unknown = table_differences(README.read_text(encoding="utf-8"), settings_classes())
    assert not missing, f"settings without a row in the README's configuration table: {sorted(missing)}"
    assert not unknown, f"README configuration rows naming no setting: {sorted(unknown)}"


class _NewSettings(BaseSettings):
    """A settings class nobody documented yet."""

    model_config = SettingsConfigDict(env_prefix="FLEET_NEW_")

    knob: int = 1


def test_the_comparison_catches_a_missing_row_and_a_stale_row() -> None:
    readme = README.read_text(encoding="utf-8")
    missing, unknown = table_differences(readme, [*settings_classes(), _NewSettings])
    assert (missing, unknown) == ({"FLEET_NEW_KNOB"}, set())

    stale = readme.replace("| `FLEET_API_PORT` |", "| `FLEET_API_PORT` | `8000` | port |\n| `FLEET_API_THREADS` |", 1)
    assert table_differences(stale, settings_classes()) == (set(), {"FLEET_API_THREADS"})


def test_rows_combining_two_variables_are_refused() -> None:
    combined = "## Configuration\n\n| variable | default | meaning |\n|---|---|---|\n| `FLEET_A` / `_B` | 1 / 2 | x |\n"
    with pytest.raises(AssertionError, match="exactly one variable"):
        table_variables(combined)


@pytest.mark.parametrize("cls", settings_classes(), ids=lambda cls: cls.__name__)
def test_defaults_are_within_bounds(cls: type[BaseSettings]) -> None:
    # Defaults are not validated unless passed explicitly.
    defaults = {name: field.get_default(call_default_factory=True) for name, field in cls.model_fields.items()}
    cls(**defaults)


LONGEST_PREFIX = "p" * 60

OUT_OF_BOUNDS: list[tuple[type[BaseSettings], str, Any]] = [
    (IngestSettings, "batch_max_messages", 0),
    (IngestSettings, "batch_max_messages", 32768),
    (IngestSettings, "batch_max_messages", 40000),
    (IngestSettings, "session_expiry_seconds", -1),
    (IngestSettings, "session_expiry_seconds", 2**32),
    (IngestSettings, "max_payload_bytes", 0),
    (IngestSettings, "max_payload_bytes", 268_435_456),
    (IngestSettings, "batch_max_seconds", 0),
    (IngestSettings, "batch_max_seconds", math.inf),
    (IngestSettings, "batch_max_seconds", 60),
    (IngestSettings, "max_future_seconds", -1),
    (IngestSettings, "max_future_seconds", math.nan),
    (IngestSettings, "max_record_age_hours", 0),
    (IngestSettings, "max_record_age_hours", 1e12),
    (IngestSettings, "http_port", -1),
    (IngestSettings, "http_port", 65536),
    (IngestSettings, "http_host", ""),
    (IngestSettings, "client_id", ""),
    (IngestSettings, "client_id", "c" * 65),
    (IngestSettings, "client_id", "has space"),
    (IngestSettings, "client_id", "a/b"),
    (IngestSettings, "share_group", "a/b"),
    (IngestSettings, "share_group", "+"),
    (IngestSettings, "share_group", "#"),
    (DispatcherSettings, "batch_size", 0),
    (DispatcherSettings, "batch_size", 10_001),
    (DispatcherSettings, "poll_interval_seconds", 0.01),
    (DispatcherSettings, "poll_interval_seconds", 61),
    (DispatcherSettings, "poll_interval_seconds", math.inf),
    (DispatcherSettings, "ack_timeout_seconds", 0),
    (DispatcherSettings, "ack_timeout_seconds", 21),
    (DispatcherSettings, "ack_timeout_seconds", math.nan),
    (DispatcherSettings, "mqtt_protocol", "3"),
    (DispatcherSettings, "http_port", 65536),
    (DispatcherSettings, "http_host", ""),
    (ApiSettings, "port", 65536),
    (ApiSettings, "host", ""),
    (ApiSettings, "workers", 0),
    (ApiSettings, "workers", 33),
    (ApiSettings, "max_concurrent_requests", 0),
    (ApiSettings, "max_concurrent_requests", 41),
    (ApiSettings, "db_pool_size", 0),
    (ApiSettings, "db_pool_size", 101),
    (ApiSettings, "db_max_overflow", -1),
    (ApiSettings, "db_max_overflow", 101),
    (ApiSettings, "db_pool_timeout_seconds", 0.01),
    (ApiSettings, "db_pool_timeout_seconds", 31),
    (ApiSettings, "db_pool_timeout_seconds", math.inf),
    (ApiSettings, "statement_timeout_seconds", 0),
    (ApiSettings, "statement_timeout_seconds", 601),
    (ApiSettings, "statement_timeout_seconds", math.nan),
    (WorkerSettings, "silent_after_seconds", 0),
    (WorkerSettings, "silent_after_seconds", math.inf),
    (SimSettings, "vehicles", 0),
    (SimSettings, "vehicles", 20001),
    (SimSettings, "prefix", "a/b"),
    (SimSettings, "prefix", "bus "),
    (SimSettings, "prefix", LONGEST_PREFIX + "p"),
    (SimSettings, "pos_interval_seconds", 0),
    (SimSettings, "can_interval_seconds", -5),
    (SimSettings, "dropout_probability_per_minute", -0.01),
    (SimSettings, "dropout_probability_per_minute", 1.01),
    (SimSettings, "dropout_probability_per_minute", math.nan),
    (SimSettings, "seed", -1),
    (SimSettings, "seed", 2**32),
    (SimSettings, "connect_rate_per_second", 0.5),
    (SimSettings, "connect_rate_per_second", 10_001),
    (SimSettings, "connect_rate_per_second", math.inf),
    (SharedSettings, "log_level", "LOUD"),
    (SharedSettings, "mqtt_url", "http://broker:1883"),
    (SharedSettings, "mqtt_url", "mqtt://broker:70000"),
    (BlobSettings, "s3_bucket", "ab"),
    (BlobSettings, "s3_bucket", "b" * 64),
    (BlobSettings, "s3_bucket", "Fleet-Files"),
    (BlobSettings, "s3_bucket", "-fleet"),
    (BlobSettings, "s3_bucket", "fleet_files"),
    (BlobSettings, "s3_endpoint_url", "minio:9000"),
    (BlobSettings, "s3_endpoint_url", "ftp://minio:9000"),
    (BlobSettings, "s3_endpoint_url", "http://"),
    (BlobSettings, "s3_endpoint_url", "http://minio:9000?x=1"),
    (BlobSettings, "s3_public_endpoint_url", "files.example.com"),
    (BlobSettings, "s3_region", ""),
    (BlobSettings, "s3_region", "EU-CENTRAL-1"),
    (BlobSettings, "s3_region", "r" * 33),
    (BlobSettings, "s3_sse", "aes256"),
    (BlobSettings, "s3_sse", "aws:kms:dsse"),
    (BlobSettings, "blob_signing_key", "too-short"),
    (BlobSettings, "blob_signing_key", "a" * 64),
    (BlobSettings, "blob_signing_key", "please-change-me-please-change-me"),
    (BlobSettings, "blob_signing_key", "REPLACE_WITH_PLACEHOLDER_VALUE_1234"),
    (BlobSettings, "blob_signing_key", "k" * 1025),
    (LiveSettings, "retention_seconds", 59),
    (LiveSettings, "retention_seconds", math.inf),
    (LiveSettings, "heartbeat_seconds", 0),
    (LiveSettings, "heartbeat_seconds", 301),
    (LiveSettings, "max_streams", 0),
    (LiveSettings, "max_buffered_messages", 9),
    (LiveSettings, "settle_seconds", -0.1),
    (LiveSettings, "settle_seconds", 6),
    (WebhookSettings, "timeout_seconds", 0),
    (WebhookSettings, "timeout_seconds", 21),
    (WebhookSettings, "give_up_hours", 0),
    (WebhookSettings, "give_up_hours", 7 * 24 + 1),
    (WebhookSettings, "backoff_initial_seconds", math.nan),
    (WebhookSettings, "backoff_max_seconds", 86401),
    (WebhookSettings, "batch_size", 0),
    (WebhookSettings, "batch_size", 1001),
    (WorkerSettings, "partitions_ahead_days", 0),
    (WorkerSettings, "partitions_ahead_days", 32),
    (ArchiveSettings, "grace_hours", -1),
    (ArchiveSettings, "grace_hours", math.inf),
    (ArchiveSettings, "batch_rows", 999),
    (ArchiveSettings, "lag_alert_hours", 0),
    (RetentionSettings, "positions_days", 0),
    (RetentionSettings, "dead_letters_days", 36501),
    (RetentionSettings, "interval_seconds", 0.5),
]

AT_THE_BOUNDS: list[tuple[type[BaseSettings], str, Any]] = [
    (IngestSettings, "batch_max_messages", 1),
    (IngestSettings, "batch_max_messages", 32767),
    (IngestSettings, "session_expiry_seconds", 0),
    (IngestSettings, "session_expiry_seconds", 2**32 - 1),
    (IngestSettings, "max_payload_bytes", 268_435_455),
    (IngestSettings, "http_port", 0),
    (IngestSettings, "http_port", 65535),
    (IngestSettings, "client_id", "c" * 64),
    (IngestSettings, "client_id", "fleet-ingest-node_1.example"),
    (IngestSettings, "share_group", ""),
    (DispatcherSettings, "batch_size", 1),
    (DispatcherSettings, "batch_size", 10_000),
    (DispatcherSettings, "poll_interval_seconds", 0.05),
    (DispatcherSettings, "poll_interval_seconds", 60),
    (DispatcherSettings, "ack_timeout_seconds", 20),
    (DispatcherSettings, "http_port", 0),
    (ApiSettings, "workers", 1),
    (ApiSettings, "workers", 32),
    (ApiSettings, "max_concurrent_requests", 1),
    (ApiSettings, "max_concurrent_requests", 40),
    (ApiSettings, "db_pool_size", 100),
    (ApiSettings, "db_max_overflow", 0),
    (ApiSettings, "db_pool_timeout_seconds", 0.05),
    (ApiSettings, "db_pool_timeout_seconds", 30),
    (ApiSettings, "statement_timeout_seconds", 0.1),
    (ApiSettings, "statement_timeout_seconds", 600),
    (SimSettings, "vehicles", 1),
    (SimSettings, "vehicles", 9999),
    (SimSettings, "vehicles", 20_000),
    (SimSettings, "connect_rate_per_second", 1),
    (SimSettings, "connect_rate_per_second", 10_000),
    (SimSettings, "prefix", ""),
    (SimSettings, "prefix", LONGEST_PREFIX),
    (SimSettings, "dropout_probability_per_minute", 0),
    (SimSettings, "dropout_probability_per_minute", 1),
    (SimSettings, "seed", 0),
    (SimSettings, "seed", 2**32 - 1),
    (SharedSettings, "log_level", "debug"),
    (SharedSettings, "mqtt_url", "mqtts://user:pass@broker.example"),
    (BlobSettings, "s3_bucket", ""),
    (BlobSettings, "s3_bucket", "abc"),
    (BlobSettings, "s3_bucket", "b" * 63),
    (BlobSettings, "s3_bucket", "fleet.files-1"),
    (BlobSettings, "s3_endpoint_url", "http://127.0.0.1:8333"),
    (BlobSettings, "s3_endpoint_url", "https://s3.eu-central-1.amazonaws.com/"),
    (BlobSettings, "s3_region", "r" * 32),
    (BlobSettings, "s3_sse", "AES256"),
    (BlobSettings, "s3_sse", "aws:kms"),
    (BlobSettings, "blob_signing_key", "0123456789abcdef0123456789abcdef"),
    (LiveSettings, "retention_seconds", 60),
    (LiveSettings, "retention_seconds", 86400),
    (LiveSettings, "heartbeat_seconds", 0.1),
    (LiveSettings, "max_streams", 100_000),
    (LiveSettings, "settle_seconds", 0),
    (WebhookSettings, "timeout_seconds", 20),
    (WebhookSettings, "give_up_hours", 7 * 24),
    (WebhookSettings, "batch_size", 1000),
]


def _id(case: tuple[type[BaseSettings], str, Any]) -> str:
    cls, name, value = case
    return f"{cls.__name__}.{name}={str(value)[:12]}"


@pytest.mark.parametrize("case", OUT_OF_BOUNDS, ids=_id)
def test_values_out_of_bounds_are_refused(case: tuple[type[BaseSettings], str, Any]) -> None:
    cls, name, value = case
    with pytest.raises(ValidationError) as refused:
        cls(**{name: value})
    assert refused.value.errors()[0]["loc"] == (name,)


@pytest.mark.parametrize("case", AT_THE_BOUNDS, ids=_id)
def test_values_at_the_bounds_are_accepted(case: tuple[type[BaseSettings], str, Any]) -> None:
    cls, name, value = case
    cls(**{name: value})


def test_batch_bound_keeps_receive_maximum_within_mqtt() -> None:
    largest = IngestSettings(batch_max_messages=32767).batch_max_messages
    assert 2 * largest <= 65535  # ingest's Receive Maximum


def test_longest_prefix_keeps_device_ids_valid() -> None:
    settings = SimSettings(prefix=LONGEST_PREFIX, vehicles=9999)
    assert DEVICE_ID_PATTERN.fullmatch(device_id_for(settings.prefix, settings.vehicles))
    # Five-digit numbers leave one character less for the prefix.
    settings = SimSettings(prefix=LONGEST_PREFIX[1:], vehicles=20_000)
    assert DEVICE_ID_PATTERN.fullmatch(device_id_for(settings.prefix, settings.vehicles))
    with pytest.raises(ValidationError, match="too long for 10000 buses"):
        SimSettings(prefix=LONGEST_PREFIX, vehicles=10_000)


@pytest.mark.parametrize(
    ("cls", "variable", "value"),
    [
        (IngestSettings, "FLEET_INGEST_BATCH_MAX_MESSAGES", "40000"),
        (IngestSettings, "FLEET_INGEST_SESSION_EXPIRY_SECONDS", "4294967296"),
        (IngestSettings, "FLEET_INGEST_BATCH_MAX_SECONDS", "inf"),
        (ApiSettings, "FLEET_API_PORT", "70000"),
        (ApiSettings, "FLEET_API_WORKERS", "0"),
        (ApiSettings, "FLEET_API_STATEMENT_TIMEOUT_SECONDS", "inf"),
        (SimSettings, "FLEET_SIM_DROPOUT_PROBABILITY_PER_MINUTE", "1.5"),
        (SimSettings, "FLEET_SIM_PREFIX", "bus/"),
        (SharedSettings, "FLEET_LOG_LEVEL", "chatty"),
        (BlobSettings, "FLEET_S3_SSE", "kms"),
        (BlobSettings, "FLEET_S3_BUCKET", "My Bucket"),
        (BlobSettings, "FLEET_BLOB_SIGNING_KEY", "changeme"),
    ],
)
def test_environment_values_out_of_bounds_are_refused(
    monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        cls()


def test_environment_values_within_bounds_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_INGEST_BATCH_MAX_MESSAGES", "32767")
    monkeypatch.setenv("FLEET_INGEST_HTTP_PORT", "0")
    settings = IngestSettings()
    assert (settings.batch_max_messages, settings.http_port) == (32767, 0)


def test_the_webhook_back_off_maximum_is_at_least_its_initial_wait() -> None:
    with pytest.raises(ValidationError, match="FLEET_WEBHOOKS_BACKOFF_MAX_SECONDS"):
        WebhookSettings(backoff_initial_seconds=60, backoff_max_seconds=30)
