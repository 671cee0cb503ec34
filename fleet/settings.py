"""Configuration from the environment: shared settings plus one class per service, embedded defaults."""

import logging
import socket
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleet.mqtt.url import MqttEndpoint, parse_mqtt_url

DEFAULT_DATA_DIR = Path(".fleet-data")
HOUR = 3600.0
DAY = 24 * HOUR

# 0: the system picks a free port (tests, `fleet up`).
Port = Annotated[int, Field(ge=0, le=65535)]
# A host name or address to listen on; 253 characters is the longest DNS name.
ListenHost = Annotated[str, Field(min_length=1, max_length=253)]


class SharedSettings(BaseSettings):
    """Settings every service reads (prefix `FLEET_`)."""

    # The URLs may hold passwords: keep input values out of validation errors, which end up in logs.
    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore", hide_input_in_errors=True)

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

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        try:
            parse_mqtt_url(value)
        except ValueError:
            # Not the URL itself in the message: it may hold a password.
            raise ValueError("FLEET_MQTT_URL must be mqtt://host[:port] or mqtts://host[:port]") from None
        return value

    @field_validator("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: Any) -> Any:
        # An empty variable (how templates render an unset value) would otherwise be Path("."), the cwd.
        return None if value == "" else value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"FLEET_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not {value!r}")
        return level

    @model_validator(mode="after")
    def _default_database(self) -> "SharedSettings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'fleet.db'}"
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            raise ValueError("FLEET_DATABASE_URL must name a PostgreSQL database in production")
        return self

    @model_validator(mode="after")
    def _client_certificate_with_key(self) -> "SharedSettings":
        if (self.mqtt_cert_file is None) != (self.mqtt_key_file is None):
            given, missing = ("CERT", "KEY") if self.mqtt_key_file is None else ("KEY", "CERT")
            raise ValueError(
                f"FLEET_MQTT_{given}_FILE is set without FLEET_MQTT_{missing}_FILE: "
                "a client certificate needs its private key; set both or neither"
            )
        return self

    def mqtt_endpoint(self) -> MqttEndpoint:
        """The broker to connect to, with the TLS files."""
        endpoint = parse_mqtt_url(self.mqtt_url)
        return replace(endpoint, ca_file=self.mqtt_ca_file, cert_file=self.mqtt_cert_file, key_file=self.mqtt_key_file)


def _default_client_id() -> str:
    # The host name is the pod name in a StatefulSet, so the id (and the broker session) survives restarts.
    return f"fleet-ingest-{socket.gethostname()}"[:64]


class IngestSettings(BaseSettings):
    """Settings of `fleet ingest` (prefix `FLEET_INGEST_`)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_INGEST_", extra="ignore")

    # Host name characters only: brokers differ in what else they accept, and ACL patterns substitute it.
    client_id: str = Field(default=_default_client_id(), pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # Empty: a plain subscription, which survives a broker restart losslessly. Replicas set a group name
    # to split the load; mosquitto 2.0 drops what arrives for a $share group between its restart and the
    # members' reconnect (docs/reliability.md). MQTT 5 forbids /, + and # in a share name.
    share_group: str = Field(default="", pattern=r"^[^/+#]*$")
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = "auto"
    # MQTT 5's Session Expiry Interval is a four-byte integer (4294967295: never expires).
    session_expiry_seconds: int = Field(default=7 * 24 * 3600, ge=0, le=2**32 - 1)
    # The Receive Maximum is twice this, and MQTT caps the Receive Maximum at 65,535.
    batch_max_messages: int = Field(default=500, ge=1, le=32767)
    # SIGTERM does not cut short a batch being collected: stay well inside the 30 s termination grace period.
    batch_max_seconds: float = Field(default=0.2, gt=0, le=10.0, allow_inf_nan=False)
    # MQTT's largest packet has a remaining length of 268,435,455 bytes.
    max_payload_bytes: int = Field(default=256 * 1024, ge=1, le=268_435_455)
    # A device clock more than a day ahead is broken, not drifting.
    max_future_seconds: float = Field(default=300.0, gt=0, le=DAY, allow_inf_nan=False)
    # PostgreSQL gets a partition per day of accepted records: at most a year of them.
    max_record_age_hours: float = Field(default=30 * 24.0, gt=0, le=365 * 24.0, allow_inf_nan=False)
    # Detect events in the telemetry (overspeed, doors open while moving, ...) in the batch's transaction.
    detection: bool = True
    # The live feed gets a vehicle's position at most this often (its record time); 0: every batch's newest.
    live_position_interval_seconds: float = Field(default=2.0, ge=0, le=3600, allow_inf_nan=False)
    http_host: ListenHost = "127.0.0.1"
    http_port: Port = 9102


class DispatcherSettings(BaseSettings):
    """Settings of `fleet dispatcher` (prefix `FLEET_DISPATCHER_`), the one publisher of the downlink outbox."""

    model_config = SettingsConfigDict(env_prefix="FLEET_DISPATCHER_", extra="ignore")

    # Messages claimed in one transaction, whose row locks are held until the broker acknowledged them. A command
    # backlog is small; 10,000 bounds the transaction and the round of publishes it waits for.
    batch_size: int = Field(default=100, ge=1, le=10_000)
    # Wake-up period. On PostgreSQL a new message also wakes the dispatcher at once (LISTEN/NOTIFY); a vehicle coming
    # online, a `not_before` reached, an expiry and everything on SQLite are noticed by this poll. One second keeps
    # a returning bus waiting at most that long for three cheap indexed queries a second; 60 s at most.
    poll_interval_seconds: float = Field(default=1.0, ge=0.05, le=60.0, allow_inf_nan=False)
    # Wait for the broker's PUBACK this long before a message counts as failed (tried again at the next pass). The
    # batch's locks are held meanwhile, and a SIGTERM waits for it: well inside the 30 s termination grace period.
    ack_timeout_seconds: float = Field(default=10.0, gt=0, le=20.0, allow_inf_nan=False)
    # MQTT 3.1.1 (the in-process broker of `fleet up`) has no Message Expiry Interval and no user properties.
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = "auto"
    http_host: ListenHost = "127.0.0.1"
    http_port: Port = 9103


class ApiSettings(BaseSettings):
    """Settings of `fleet api` (prefix `FLEET_API_`)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_API_", extra="ignore")

    host: ListenHost = "127.0.0.1"
    port: Port = 8000
    # Larger request bodies get 413 before anything reads them (the largest legitimate body is a bulk
    # registration of a few thousand vehicles).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Requests per minute and bearer token in each API process, with bursts of up to a tenth of a minute's worth.
    # Generous: a dashboard polling /v1/live every second uses 60.
    rate_limit_per_minute: int = Field(default=1200, ge=1, le=1_000_000)
    # Failed authentications per minute from one client address before it gets 429 for the rest of the minute.
    auth_failures_per_minute: int = Field(default=30, ge=1, le=100_000)
    # Proxies (comma-separated addresses or CIDRs, `*` for any) whose X-Forwarded-For names the client.
    forwarded_allow_ips: str = Field(default="127.0.0.1", min_length=1, max_length=1000)
    # Processes of `fleet api` sharing its port (`fleet up` always runs one, in a thread). Each has its own
    # connection pool, admission limit, rate limits and stream limit.
    workers: int = Field(default=1, ge=1, le=32)
    # Requests in flight in one process (the event stream, the probes and the scrape not counted); the next gets 503
    # at once. One process (one core: the GIL) is kept busy by a few requests plus those waiting on PostgreSQL; more
    # in flight only queue for the CPU and make every answer slower. At most anyio's 40 threads, which run endpoints.
    max_concurrent_requests: int = Field(default=8, ge=1, le=40)
    # The connection pool of each process: kept open, opened on demand beyond them, and how long a request waits for
    # one before it gets 503. 10 covers the admitted requests plus the probes, scrapes and stream readers, all kept
    # open: a connection beyond the pool is closed when it is given back, so a steady load above the pool opened
    # one (a new PostgreSQL backend, its caches cold) every few requests.
    db_pool_size: int = Field(default=10, ge=1, le=100)
    db_max_overflow: int = Field(default=0, ge=0, le=100)
    db_pool_timeout_seconds: float = Field(default=1.0, ge=0.05, le=30.0, allow_inf_nan=False)
    # PostgreSQL cancels an API statement running (or waiting for a lock) longer than this, and the request gets 503.
    # A page of any list or time series takes milliseconds on its index; 5 s is a query gone wrong holding a
    # connection and an admission slot. Not applied on SQLite.
    statement_timeout_seconds: float = Field(default=5.0, ge=0.1, le=600.0, allow_inf_nan=False)
    # Exports (a time series as NDJSON or CSV) streaming at once in one process; the next gets 503. Each holds one of
    # the admission limit's requests for as long as its client reads, so a few leave room for everything else.
    max_concurrent_exports: int = Field(default=2, ge=1, le=40)
    # How long one answer of /v1/live serves a tenant's polls: every dashboard asks for the same, changing list, and
    # a second is within the live feed's own pace (a position at most every 2 s). 0: each request queries.
    live_cache_seconds: float = Field(default=1.0, ge=0, le=60, allow_inf_nan=False)
    # How long a bearer token read from the database serves an API process: a token revoked elsewhere (another
    # process, the CLI) is refused within this time. Expiry is checked on every request. 0: read every time.
    token_cache_seconds: float = Field(default=2.0, ge=0, le=60, allow_inf_nan=False)


class SimSettings(BaseSettings):
    """Settings of `fleet sim` (prefix `FLEET_SIM_`)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_SIM_", extra="ignore")

    # Device ids are the prefix plus the bus's number, zero-padded to 4 digits. At most 20,000: every bus holds a
    # connection to the broker from one address, and Linux's ephemeral ports (32768-60999) give 28,232 per broker.
    vehicles: int = Field(default=20, ge=1, le=20_000)
    # Keeps prefix + 4 digits a valid device id (fleet.contract.topics.DEVICE_ID_PATTERN: [A-Za-z0-9_-]{1,64});
    # with 5-digit numbers (over 9999 buses) the prefix may have 59 characters.
    prefix: str = Field(default="sim-", pattern=r"^[A-Za-z0-9_-]{0,60}$")
    pos_interval_seconds: float = Field(default=1.0, gt=0, le=HOUR, allow_inf_nan=False)
    can_interval_seconds: float = Field(default=5.0, gt=0, le=HOUR, allow_inf_nan=False)
    dropout_probability_per_minute: float = Field(default=0.05, ge=0, le=1)
    # The range of the seed drawn when none is given, so every logged seed can be given back.
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = None
    # Each bus connects as its device id with the password from this file (`fleet vehicle add
    # --credentials-out`); without it the buses connect anonymously, which only a development broker allows.
    credentials_file: Path | None = None
    # Tachograph downloads, compressed for demos (EU 581/2010: the vehicle unit every 90 days, each driver card every
    # 28, the bounds here). Each bus downloads its vehicle unit 10-120 s after the start, then at this period, so
    # `fleet up`'s twenty buses show about nine downloads in the first minute; its driver's card at a random phase
    # of the card period, so card downloads are spread over the fleet.
    tachograph_vu_interval_seconds: float = Field(default=HOUR, ge=1.0, le=90 * DAY, allow_inf_nan=False)
    tachograph_card_interval_seconds: float = Field(default=HOUR / 2, ge=1.0, le=28 * DAY, allow_inf_nan=False)
    # Harsh-braking incidents per bus and hour, each filmed as a 20 s clip offered 10 s after it: at 10, twenty
    # buses offer about three clips in the first minute (some 60 MB an hour of clips). 0: no clips; 3600 at most.
    clips_per_hour: float = Field(default=10.0, ge=0, le=HOUR, allow_inf_nan=False)
    # The share of uploads cut after about half their bytes, as a 3G drop-out cuts them; the unit offers again and
    # resumes (a multipart upload sends only the missing parts). 1: every upload is cut, and files end failed.
    upload_interrupt_probability: float = Field(default=0.1, ge=0, le=1, allow_inf_nan=False)
    # Threads uploading for the whole fleet: uploads wait for a free one. A few keep `fleet up` light on a small
    # machine; 64 at most, since a simulator is not a load generator for object storage.
    upload_workers: int = Field(default=4, ge=1, le=64)
    # The share of commands a bus fails with a plausible fault of its display, tachograph or camera: one in twenty
    # shows failures in a demo without drowning the successes. 1: every command that could be done fails.
    command_failure_probability: float = Field(default=0.05, ge=0, le=1, allow_inf_nan=False)
    # How far back a bus's cameras keep video: a clip requested for an older window is rejected. A day is typical of
    # a bus's recorder; 30 days at most, as long as any downlink message lives.
    clip_buffer_hours: float = Field(default=24.0, gt=0, le=30 * 24, allow_inf_nan=False)
    # How long a bus is off the broker after a `reboot` command: a unit's boot. 0: it reconnects at once; 300 at most,
    # since a bus gone longer is broken rather than rebooting.
    reboot_seconds: float = Field(default=5.0, ge=0, le=300, allow_inf_nan=False)
    # Scales every rate of the buses' incidents (overspeed, emergency stops, doors open while moving) and of their
    # units' events (driver monitoring, ADAS, DTCs, tell-tales, panic button): 1 is a real fleet's (the base rates in
    # vehicle_sim), where alarms are rare; at 5, `fleet up`'s twenty buses raise a few alarms a minute. 0: none.
    event_rate_multiplier: float = Field(default=5.0, ge=0, le=1000, allow_inf_nan=False)
    # A diesel bus idles at the end of its line for about this long (0.6-1.4 times it), so idling is detected on
    # some layovers (300 s by default); 0: it turns after an ordinary dwell.
    terminus_layover_seconds: float = Field(default=360.0, ge=0, le=HOUR, allow_inf_nan=False)
    # For demos and end-to-end tests: the first bus presses its panic button once, this long after the start.
    demo_panic_after_seconds: float | None = Field(default=None, ge=0, le=DAY, allow_inf_nan=False)
    # Connections opened a second, at most, at the start and after a broker restart: 200 connect 10,000 buses in
    # 50 s, well within Mosquitto's listen backlog of 100 on a small machine; a storm of all at once is refused.
    connect_rate_per_second: float = Field(default=200.0, ge=1, le=10_000, allow_inf_nan=False)

    @model_validator(mode="after")
    def _device_ids_fit(self) -> "SimSettings":
        if len(self.prefix) + max(4, len(str(self.vehicles))) > 64:
            raise ValueError(f"FLEET_SIM_PREFIX is too long for {self.vehicles} buses: device ids have 64 characters")
        return self


class BrokerSettings(BaseSettings):
    """Access control on the broker (prefix `FLEET_BROKER_`): who issues vehicle credentials, service passwords."""

    model_config = SettingsConfigDict(env_prefix="FLEET_BROKER_", extra="ignore", hide_input_in_errors=True)

    # The dynamic-security admin identity, e.g. mqtts://fleet-admin:SECRET@mosquitto:8883. Empty: fleet issues
    # no broker credentials (an external broker whose identities are managed there).
    admin_url: str = ""
    # Read by `fleet broker bootstrap` only: the passwords of the service identities in a new broker configuration.
    ingest_password: str = ""
    publisher_password: str = ""

    @field_validator("admin_url")
    @classmethod
    def _admin_url(cls, value: str) -> str:
        if value:
            endpoint = parse_mqtt_url(value)
            if not (endpoint.username and endpoint.password):
                raise ValueError("FLEET_BROKER_ADMIN_URL must carry the admin's user name and password")
        return value

    def admin_endpoint(self, shared: SharedSettings) -> MqttEndpoint | None:
        """The admin's endpoint with the shared TLS files, or None when fleet manages no broker credentials."""
        if not self.admin_url:
            return None
        return replace(
            parse_mqtt_url(self.admin_url),
            ca_file=shared.mqtt_ca_file,
            cert_file=shared.mqtt_cert_file,
            key_file=shared.mqtt_key_file,
        )


# Words that mark a value copied from an example instead of a generated secret.
PLACEHOLDER_WORDS = ("change", "placeholder", "example", "secret", "dummy", "default", "xxxx", "todo")
# Server-side encryption of S3 objects: none asked for, SSE-S3, SSE-KMS.
S3SseMode = Literal["none", "AES256", "aws:kms"]


class BlobSettings(BaseSettings):
    """Where file payloads go: an S3 bucket, or without one a folder under FLEET_DATA_DIR (docs/storage.md).

    Prefix `FLEET_`, since the variables are `FLEET_S3_*` and `FLEET_BLOB_SIGNING_KEY`; every field name starts
    with `s3_` or `blob_`, so the CLI names a refused variable as for the other classes.
    """

    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore", hide_input_in_errors=True)

    # Empty: AWS S3 (the region's endpoint, virtual-hosted addressing). An SeaweedFS or MinIO URL gets path-style
    # addressing, since such servers rarely have a DNS name per bucket.
    s3_endpoint_url: str = Field(default="", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$", max_length=2000)
    # Where units send the bytes when that differs from where the services reach S3 (a public name in front of an
    # in-cluster endpoint): presigned URLs sign the host, so they must be made for the one the unit connects to.
    s3_public_endpoint_url: str = Field(default="", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$", max_length=2000)
    # Empty: the local store. Otherwise S3's bucket naming rules (3-63 of a-z 0-9 . -, a letter or digit at both
    # ends); dots are allowed by S3 but break TLS with virtual-hosted addressing, so only path-style works then.
    s3_bucket: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$")
    # AWS region names are short lower-case words and digits (eu-central-1); S3-compatible servers accept any.
    s3_region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]{1,32}$")
    # Both empty: boto3's default chain (AWS_* variables, a web identity in Kubernetes, an instance profile).
    s3_access_key_id: str = Field(default="", max_length=128)
    s3_secret_access_key: SecretStr = Field(default=SecretStr(""), max_length=256)
    # Server-side encryption asked for on every object written: AES256 (SSE-S3) or aws:kms (SSE-KMS); `none` leaves
    # it to the bucket's default encryption.
    s3_sse: S3SseMode = "none"
    # The KMS key of aws:kms (id, ARN or alias); empty: the account's aws/s3 key.
    s3_sse_kms_key_id: str = Field(default="", max_length=2048)
    # HMAC key of the local store's signed URLs. Empty in development: generated once and kept in
    # FLEET_DATA_DIR/blob-signing.key. Required in production when the local store is used (no FLEET_S3_BUCKET).
    # At least 32 characters: `openssl rand -hex 32` gives 64.
    blob_signing_key: SecretStr = Field(default=SecretStr(""), max_length=1024)
    # Where units reach the API's blob endpoint of the local store (the signed URLs of grants start with it).
    blob_base_url: str = Field(
        default="http://127.0.0.1:8000/v1/blobs", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=2000
    )

    @field_validator("s3_endpoint_url", "s3_public_endpoint_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        # The pattern requires a host after the scheme, so this never eats the scheme's slashes.
        return value.rstrip("/")

    @field_validator("blob_signing_key")
    @classmethod
    def _real_signing_key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if not key:
            return value
        if len(key) < 32 or len(set(key)) < 8:
            raise ValueError("FLEET_BLOB_SIGNING_KEY must be at least 32 random characters (openssl rand -hex 32)")
        if any(word in key.lower() for word in PLACEHOLDER_WORDS):
            raise ValueError("FLEET_BLOB_SIGNING_KEY looks like a placeholder: generate one (openssl rand -hex 32)")
        return value

    @model_validator(mode="after")
    def _consistent_s3(self) -> "BlobSettings":
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key.get_secret_value()):
            raise ValueError(
                "FLEET_S3_ACCESS_KEY_ID and FLEET_S3_SECRET_ACCESS_KEY go together: set both, or neither for "
                "boto3's default credentials"
            )
        if self.s3_sse_kms_key_id and self.s3_sse != "aws:kms":
            raise ValueError("FLEET_S3_SSE_KMS_KEY_ID is set but FLEET_S3_SSE is not aws:kms")
        if self.s3_public_endpoint_url and not self.s3_endpoint_url:
            raise ValueError("FLEET_S3_PUBLIC_ENDPOINT_URL needs FLEET_S3_ENDPOINT_URL")
        return self

    @property
    def uses_s3(self) -> bool:
        """True when a bucket is configured; False: the local store under FLEET_DATA_DIR/blobs."""
        return bool(self.s3_bucket)


class FilesSettings(BaseSettings):
    """The file flow (prefix `FLEET_FILES_`): limits, grants, retention per kind, tachograph periods."""

    model_config = SettingsConfigDict(env_prefix="FLEET_FILES_", extra="ignore")

    # An offer above this is rejected; S3 holds at most 10,000 parts of 5 GiB.
    max_bytes: int = Field(default=2 * 1024**3, ge=1, le=5 * 1024**4)
    # Files from this size on are uploaded in parts, so an upload cut by a 3G drop-out resumes where it stopped.
    # S3's smallest part is 5 MiB.
    multipart_threshold_bytes: int = Field(default=16 * 1024**2, ge=5 * 1024**2, le=5 * 1024**3)
    part_size_bytes: int = Field(default=8 * 1024**2, ge=5 * 1024**2, le=5 * 1024**3)
    # How long a grant's URLs stay valid: long enough for a clip over a slow link, short enough that a leaked
    # URL is soon worthless. A unit offers again for a fresh grant.
    grant_expiry_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # An offer never uploaded is given up (multipart parts dropped) after this.
    abandon_after_hours: float = Field(default=7 * 24.0, gt=0, le=365 * 24.0, allow_inf_nan=False)
    # Retention per kind from the file's time; EU 581/2010 asks for tachograph data to be kept at least a year.
    retention_video_days: int = Field(default=30, ge=1, le=36500)
    retention_image_days: int = Field(default=30, ge=1, le=36500)
    retention_log_days: int = Field(default=90, ge=1, le=36500)
    retention_tachograph_days: int = Field(default=730, ge=365, le=36500)
    # Rejected and failed files stay visible this long, for the operator to see why.
    retention_refused_days: int = Field(default=30, ge=1, le=36500)
    # EU 581/2010: the vehicle unit at least every 90 days, each driver card every 28; a tenant may set its own.
    tachograph_vu_days: int = Field(default=90, ge=1, le=366)
    tachograph_card_days: int = Field(default=28, ge=1, le=366)

    def retention_days(self, kind: str) -> int:
        """Days a verified file of `kind` is kept."""
        if kind.startswith("tachograph"):
            return self.retention_tachograph_days
        return {"video": self.retention_video_days, "image": self.retention_image_days}.get(
            kind, self.retention_log_days
        )


class WorkerSettings(BaseSettings):
    """Settings of `fleet worker` (prefix `FLEET_WORKER_`): the periodic work (file grants, checks, lifecycle)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_WORKER_", extra="ignore")

    # How often the worker looks for offers to answer and uploads to check: what a unit waits at most for a grant.
    poll_interval_seconds: float = Field(default=1.0, ge=0.05, le=60.0, allow_inf_nan=False)
    # Files handled in one transaction.
    batch_size: int = Field(default=50, ge=1, le=1000)
    # Retention runs this often (it deletes objects, then rows).
    lifecycle_interval_seconds: float = Field(default=3600.0, ge=1.0, le=DAY, allow_inf_nan=False)
    # An online vehicle that sent nothing for this long counts as silent (fleet_vehicles{state="silent"}).
    silent_after_seconds: float = Field(default=300.0, gt=0, le=7 * DAY, allow_inf_nan=False)
    # PostgreSQL: the daily partitions of today and this many days ahead exist before ingest needs them.
    partitions_ahead_days: int = Field(default=3, ge=1, le=31)
    http_host: ListenHost = "127.0.0.1"
    http_port: Port = 9104


class ArchiveSettings(BaseSettings):
    """The cold tier (prefix `FLEET_ARCHIVE_`): closed days of the time series exported to Parquet."""

    model_config = SettingsConfigDict(env_prefix="FLEET_ARCHIVE_", extra="ignore")

    # The worker archives closed days; off, only `fleet archive run` does (and retention then drops nothing).
    enabled: bool = True
    # A day counts as closed this long after its UTC midnight: store-and-forward data that arrives later makes
    # the archived day stale and it is exported again before retention removes it.
    grace_hours: float = Field(default=6.0, ge=0, le=7 * 24.0, allow_inf_nan=False)
    # How often the worker looks for closed days to archive.
    interval_seconds: float = Field(default=600.0, ge=1.0, le=DAY, allow_inf_nan=False)
    # Rows read from the database and written as one Parquet row group: bounds the archive's memory.
    batch_rows: int = Field(default=100_000, ge=1000, le=5_000_000)
    # An alert fires when the oldest closed day not archived yet is older than this.
    lag_alert_hours: float = Field(default=36.0, gt=0, le=30 * 24.0, allow_inf_nan=False)


class RetentionSettings(BaseSettings):
    """Days each table stays in the hot tier (prefix `FLEET_RETENTION_`); per-tenant overrides in the database."""

    model_config = SettingsConfigDict(env_prefix="FLEET_RETENTION_", extra="ignore")

    # The worker applies retention; off, only `fleet retention run` does.
    enabled: bool = True
    positions_days: int = Field(default=90, ge=1, le=36500)
    can_samples_days: int = Field(default=90, ge=1, le=36500)
    events_days: int = Field(default=730, ge=1, le=36500)
    alarms_days: int = Field(default=730, ge=1, le=36500)
    dead_letters_days: int = Field(default=30, ge=1, le=36500)
    # Webhook deliveries delivered or dead (the API lists them); a pending one is never deleted.
    webhook_deliveries_days: int = Field(default=30, ge=1, le=36500)
    # Downlink messages sent, expired or cancelled (commands keep their own history); a pending one is never deleted.
    outbox_days: int = Field(default=30, ge=1, le=36500)
    # How often the worker applies retention.
    interval_seconds: float = Field(default=3600.0, ge=1.0, le=DAY, allow_inf_nan=False)

    def days(self, table: str) -> int:
        """The default days `table` is kept."""
        return int(getattr(self, f"{table}_days"))


class LiveSettings(BaseSettings):
    """The live feed (prefix `FLEET_LIVE_`): how long messages are kept, and `GET /v1/stream`'s limits."""

    model_config = SettingsConfigDict(env_prefix="FLEET_LIVE_", extra="ignore")

    # How long the worker keeps a message (once the webhook fan-out read it): how far back a reconnecting stream
    # resumes with Last-Event-ID. At least a minute, at most a day.
    retention_seconds: float = Field(default=600.0, ge=60, le=DAY, allow_inf_nan=False)
    # A comment line this often keeps proxies from closing a quiet stream (most cut idle connections after 60 s).
    heartbeat_seconds: float = Field(default=15.0, ge=0.1, le=300, allow_inf_nan=False)
    # Open streams per API process; past it 503 with Retry-After (each stream holds a socket and a queue).
    max_streams: int = Field(default=1000, ge=1, le=100_000)
    # Messages waiting for one client; a client that falls this far behind is disconnected (it resumes from its
    # Last-Event-ID).
    max_buffered_messages: int = Field(default=1000, ge=10, le=100_000)
    # PostgreSQL only: a message is held back this long after it is first read, so a transaction that took an id
    # before another and committed after it is still streamed in id order (docs/live.md).
    settle_seconds: float = Field(default=0.3, ge=0, le=5, allow_inf_nan=False)


class WebhookSettings(BaseSettings):
    """Settings of the webhook deliveries of `fleet worker` (prefix `FLEET_WEBHOOKS_`)."""

    model_config = SettingsConfigDict(env_prefix="FLEET_WEBHOOKS_", extra="ignore")

    # Of each attempt's connect and of each read. A pass waits for its slowest receivers, and SIGTERM for the pass:
    # stay well inside the 30 s termination grace period.
    timeout_seconds: float = Field(default=5.0, gt=0, le=20.0, allow_inf_nan=False)
    # A message not delivered this long after it was written is dead: kept for the API, no longer tried. A week at
    # most: past that a receiver wants a resynchronisation, not a replay.
    give_up_hours: float = Field(default=24.0, gt=0, le=7 * 24.0, allow_inf_nan=False)
    # The wait after the first failure, doubling after each further one up to the maximum (each +-20 % of jitter).
    backoff_initial_seconds: float = Field(default=10.0, gt=0, le=HOUR, allow_inf_nan=False)
    backoff_max_seconds: float = Field(default=HOUR, gt=0, le=DAY, allow_inf_nan=False)
    # Deliveries claimed per pass; a killed worker's claimed deliveries wait timeout x batch + 60 s before another
    # worker tries them, so the product stays within minutes.
    batch_size: int = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _backoff_grows(self) -> "WebhookSettings":
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError(
                "FLEET_WEBHOOKS_BACKOFF_MAX_SECONDS must be at least FLEET_WEBHOOKS_BACKOFF_INITIAL_SECONDS"
            )
        return self
