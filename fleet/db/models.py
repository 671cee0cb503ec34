"""SQLAlchemy models; Alembic migrations own the schema, these mirror it."""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fleet.db.types import BigId, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Current time, timezone-aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime}


class Tenant(Base):
    """A transport company; the unit of isolation."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Tachograph download periods of this tenant's country (None: FLEET_FILES_TACHOGRAPH_*_DAYS, the EU's).
    tachograph_vu_days: Mapped[int | None] = mapped_column(SmallInteger)
    tachograph_card_days: Mapped[int | None] = mapped_column(SmallInteger)


class ApiToken(Base):
    """A bearer token of a tenant, stored as its SHA-256 hash, with a name, a role and a lifetime."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_api_tokens_tenant_id_name"),
        CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Nullable and defaulted only so that the previous release, which knows neither, can still insert a token
    # after a rollback (expand, then contract): fleet always sets both, and reads a missing name as "token-<id>".
    name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), server_default="admin")
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Vehicle(Base):
    """A bus and the on-board unit (device) it carries."""

    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    plate: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # False for a vehicle exempt from the tachograph (EU 561/2006 art. 3a: regular routes of 50 km or less).
    tachograph_required: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Names of the tenant's groups the vehicle is in: sorted, no repeats, at most 20 (`fleet.registry.service`).
    # JSONB on PostgreSQL (containment, `@>`, for the group filter). Always assigned a new list: a JSON column does not
    # notice a list changed in place.
    groups: Mapped[list[str]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=list, server_default=text("'[]'")
    )


class VehicleCredential(Base):
    """The broker credential of a vehicle's unit: only a hash of its secret (the broker's own format) is kept."""

    __tablename__ = "vehicle_credentials"

    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Position(Base):
    """A GNSS fix; partitioned by day on PostgreSQL."""

    __tablename__ = "positions"

    vehicle_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigId)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    alt_m: Mapped[float | None] = mapped_column(Float)
    sats: Mapped[int | None] = mapped_column(SmallInteger)
    hdop: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class CanSample(Base):
    """Bus-FMS values read from the CAN bus; partitioned by day on PostgreSQL."""

    __tablename__ = "can_samples"

    vehicle_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigId)
    fuel_level_pct: Mapped[float | None] = mapped_column(Float)
    fuel_used_total_l: Mapped[float | None] = mapped_column(Float)
    distance_total_km: Mapped[float | None] = mapped_column(Float)
    engine_speed_rpm: Mapped[float | None] = mapped_column(Float)
    engine_hours_total_h: Mapped[float | None] = mapped_column(Float)
    coolant_temp_c: Mapped[float | None] = mapped_column(Float)
    doors_open_mask: Mapped[int | None] = mapped_column(Integer)
    door_count: Mapped[int | None] = mapped_column(SmallInteger)
    passenger_count: Mapped[int | None] = mapped_column(Integer)
    battery_soc_pct: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class VehicleState(Base):
    """Latest known state of a vehicle; each part moves only forward in (ts, seq)."""

    __tablename__ = "vehicle_state"

    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"), primary_key=True)
    pos_ts: Mapped[datetime | None]
    pos_seq: Mapped[int | None] = mapped_column(BigId)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    can_ts: Mapped[datetime | None]
    can_seq: Mapped[int | None] = mapped_column(BigId)
    fuel_level_pct: Mapped[float | None] = mapped_column(Float)
    distance_total_km: Mapped[float | None] = mapped_column(Float)
    passenger_count: Mapped[int | None] = mapped_column(Integer)
    battery_soc_pct: Mapped[float | None] = mapped_column(Float)
    doors_open_mask: Mapped[int | None] = mapped_column(Integer)
    door_count: Mapped[int | None] = mapped_column(SmallInteger)
    status_ts: Mapped[datetime | None]
    status_seq: Mapped[int | None] = mapped_column(BigId)
    online: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetter(Base):
    """A message or record that could not be stored, kept with the reason and the raw payload."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_tenant_id_received_at", "tenant_id", "received_at"),
        # The dispatcher's claim of requested replays reads only those.
        Index(
            "ix_dead_letters_replay_requested",
            "id",
            postgresql_where=text("replay_requested_at IS NOT NULL"),
            sqlite_where=text("replay_requested_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    topic: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    replayed_at: Mapped[datetime | None]
    # SHA-256 of topic, NUL, payload: one letter per distinct bad message (null on letters older than migration 0003).
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary, unique=True, index=True)
    # How many more times the same message came in bad after the letter was written, and when it last did.
    repeat_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_seen_at: Mapped[datetime | None]
    replay_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A replay asked for through the API, waiting for the dispatcher to publish it.
    replay_requested_at: Mapped[datetime | None]


class AuditEntry(Base):
    """An admin action: who (token or "cli", client address), what (action, target, detail) and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Null for an action across tenants (the CLI's replay of every tenant's dead letters).
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxMessage(Base):
    """A downlink message for one vehicle's unit, written in the caller's transaction and published by the dispatcher.

    `state` moves once from `pending` to `sent` (the broker acknowledged it), `expired` (`expires_at` passed first)
    or `cancelled`. The MQTT v5 Message Expiry Interval is not stored: the dispatcher derives it from `expires_at`
    when it publishes, so a message that waited for its vehicle carries only the time it has left.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'sent', 'expired', 'cancelled')", name="state"),
        # The dispatcher's claim (a vehicle's first due message, then the ones after it), the expiry sweep and the
        # pending gauge read only pending rows: this index stays as small as the backlog while sent rows pile up.
        Index(
            "ix_outbox_pending",
            "vehicle_id",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # A vehicle's messages in order (its history, the cascade when the vehicle is deleted).
        Index("ix_outbox_vehicle_id_id", "vehicle_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"))
    # One of fleet.contract.topics.DOWNLINK_SUFFIXES: the message goes to fleet/v1/{device_id}/{suffix}.
    suffix: Mapped[str] = mapped_column(String(32))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Not published before this time (`created_at` unless the caller schedules it).
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    # Publish attempts recorded: each one acknowledged or refused (a crash before the commit records none).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class File(Base):
    """A file of a vehicle's unit (tachograph download, camera clip, image, log): metadata here, bytes in the store.

    `state`: offered -> uploaded -> verified | rejected; failed when the unit gave up. `answer_due`: the unit
    waits for an answer on file/grant (a grant, `verified` or `answer_error`), which the worker sends.
    """

    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("vehicle_id", "file_id", name="uq_files_vehicle_id_file_id"),
        CheckConstraint("state IN ('offered', 'uploaded', 'verified', 'rejected', 'failed')", name="state"),
        # Listing by tenant and time, tie-safe by id.
        Index("ix_files_tenant_id_offered_at_id", "tenant_id", "offered_at", "id"),
        # Compliance: a vehicle's newest verified file of a kind.
        Index("ix_files_vehicle_id_kind_offered_at", "vehicle_id", "kind", "offered_at"),
        # The worker's queue: offers to answer and uploads to check; small however many files are kept.
        Index(
            "ix_files_work",
            "id",
            postgresql_where=text("answer_due OR state = 'uploaded'"),
            sqlite_where=text("answer_due OR state = 'uploaded'"),
        ),
        # The lifecycle job: files past their retention.
        Index("ix_files_retain_until", "retain_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"))
    # The unit's id (fleet.contract.records.FileId), unique per vehicle.
    file_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    # The object's key in the blob store (fleet.blobs.keys.file_key), read back from here, never rebuilt.
    object_key: Mapped[str] = mapped_column(String(1024))
    # A multipart upload under way, and its part size.
    upload_id: Mapped[str | None] = mapped_column(String(1024))
    part_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    answer_due: Mapped[bool] = mapped_column(Boolean, default=False)
    answer_error: Mapped[str | None] = mapped_column(Text)
    # The unit's time of the first offer (when the unit made or downloaded the file); the rest are the backend's.
    offered_at: Mapped[datetime]
    received_at: Mapped[datetime]
    granted_at: Mapped[datetime | None]
    uploaded_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    camera: Mapped[str | None] = mapped_column(String(64))
    driver_card_id: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(64))
    command_id: Mapped[str | None] = mapped_column(String(64))
    # Why it was rejected (the backend) or failed (the unit's error).
    error: Mapped[str | None] = mapped_column(Text)
    # Deleted (object and row) by the lifecycle job after this, unless held.
    retain_until: Mapped[datetime | None]
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    # Verification attempts that found the store unavailable (retried; counted for the operator).
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Command(Base):
    """A command to a vehicle's unit and where it stands: queued -> sent -> delivered -> done | failed | rejected,
    or expired / cancelled. States only move forward (fleet.commands.states)."""

    __tablename__ = "commands"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'sent', 'delivered', 'done', 'failed', 'rejected', 'expired', 'cancelled')",
            name="state",
        ),
        # A retried POST with the same Idempotency-Key finds its command.
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_commands_tenant_id_idempotency_key"),
        # A vehicle's commands, newest first.
        Index("ix_commands_vehicle_id_id", "vehicle_id", "id"),
        # What can still expire; small however many commands are kept.
        Index(
            "ix_commands_open",
            "expires_at",
            postgresql_where=text("state IN ('queued', 'sent')"),
            sqlite_where=text("state IN ('queued', 'sent')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # Who asked: the token's name (or "cli").
    created_by: Mapped[str] = mapped_column(String(100))
    # The outbox message that carries it to the unit.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"), index=True)


class CommandTransition(Base):
    """One step of a command's history: the state it moved to, when, and why."""

    __tablename__ = "command_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    command_id: Mapped[int] = mapped_column(ForeignKey("commands.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[str | None] = mapped_column(Text)


class Event(Base):
    """Something that happened to a vehicle, in the vehicle's time: reported by its unit or detected from telemetry.

    `key` makes each event stored once: `u:<event_id>` or `u:<ts>/<seq>` for the unit's, `d:<detector>:<start>` for a
    detected one, whose start a late record may move (the detection keeps the row and rewrites the key).
    `ended_at` is None while the condition lasts, and for an event that is an instant.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("vehicle_id", "key", name="uq_events_vehicle_id_key"),
        CheckConstraint("source IN ('unit', 'detector')", name="source"),
        CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity"),
        # Listing by tenant and time, tie-safe by id; a vehicle's events by time (also the detection's window).
        Index("ix_events_tenant_id_started_at_id", "tenant_id", "started_at", "id"),
        Index("ix_events_vehicle_id_started_at", "vehicle_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The unit's id of the event (files refer to it), for the unit's events that carry one.
    unit_event_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alarm(Base):
    """The operator's side of a warning or critical event: open -> acknowledged -> closed.

    Closed by hand, or when the event's condition ends (`close_reason` says which). The event may go when late data
    shows it did not happen as detected: the alarm then closes and keeps its event's type and time.
    """

    __tablename__ = "alarms"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'acknowledged', 'closed')", name="state"),
        CheckConstraint("severity IN ('warning', 'critical')", name="severity"),
        UniqueConstraint("event_id", name="uq_alarms_event_id"),
        Index("ix_alarms_tenant_id_opened_at_id", "tenant_id", "opened_at", "id"),
        # What is not closed yet: the alarm list's default view, the gauges and the unacknowledged alert.
        Index(
            "ix_alarms_not_closed",
            "tenant_id",
            postgresql_where=text("state <> 'closed'"),
            sqlite_where=text("state <> 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default="open")
    # The event's start (vehicle time); the rest are the backend's.
    opened_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(100))
    close_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventRule(Base):
    """A detector's thresholds for a tenant (`group_name` '') or for one of its vehicle groups."""

    __tablename__ = "event_rules"
    __table_args__ = (
        UniqueConstraint("tenant_id", "group_name", "detector", name="uq_event_rules_tenant_id_group_name_detector"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    group_name: Mapped[str] = mapped_column(String(64), default="")
    detector: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Geofence(Base):
    """A tenant's polygon (depot, no-go zone, ...): entering and leaving it are events."""

    __tablename__ = "geofences"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_geofences_tenant_id_name"),
        CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    # [[lon, lat], ...] of the outer ring (GeoJSON order), closed or not.
    polygon: Mapped[list[list[float]]] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DetectorState(Base):
    """Where the detection of a vehicle stands: the last record it saw and each detector's state after it."""

    __tablename__ = "detector_state"

    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"), primary_key=True)
    last_ts: Mapped[datetime]
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LiveMessage(Base):
    """One message of a tenant's live feed (a position, an event, an alarm or command change), written with the
    change it reports; `id` is the Server-Sent Events id a reconnecting client resumes from."""

    __tablename__ = "live_feed"
    __table_args__ = (Index("ix_live_feed_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Webhook(Base):
    """A tenant's HTTP endpoint for live-feed messages matching its filter, signed with its secret."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept as given: signing needs it (shown once when created).
    secret: Mapped[str] = mapped_column(String(100))
    # The filter: feed kinds, event types (empty: all) and the lowest severity of events and alarms.
    kinds: Mapped[list[str]] = mapped_column(JSON)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_severity: Mapped[str] = mapped_column(String(8), default="info")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class WebhookDelivery(Base):
    """One live-feed message to one webhook: pending (retried with back-off) -> delivered | dead."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "feed_id", name="uq_webhook_deliveries_webhook_id_feed_id"),
        CheckConstraint("state IN ('pending', 'delivered', 'dead')", name="state"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # The live-feed message delivered (its id and contents: the feed is pruned after minutes).
    feed_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class Cursor(Base):
    """How far a periodic job has read an append-only table (the webhook fan-out's place in the live feed)."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArchiveDay(Base):
    """A (table, UTC day) the archive exported: `exported`, then `verified` once read back; `stale` when it must
    be exported again (retention found rows it does not hold)."""

    __tablename__ = "archive_days"
    __table_args__ = (CheckConstraint("state IN ('exported', 'verified', 'stale')", name="state"),)

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    manifest_key: Mapped[str] = mapped_column(String(1024))
    exported_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArchivePart(Base):
    """One Parquet file of the archive: a tenant's rows of a table on a day; part n + 1 holds rows that arrived
    after retention removed part n's rows (`purged_at`) from the database."""

    __tablename__ = "archive_parts"
    __table_args__ = (Index("ix_archive_parts_tenant_id_table_name_day", "tenant_id", "table_name", "day"),)

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(1024))
    rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    min_ts: Mapped[datetime]
    max_ts: Mapped[datetime]
    exported_at: Mapped[datetime]
    purged_at: Mapped[datetime | None]


class RetentionOverride(Base):
    """Days a tenant keeps a table in the hot tier instead of the FLEET_RETENTION_* default."""

    __tablename__ = "retention_overrides"
    __table_args__ = (CheckConstraint("days >= 1", name="days"),)

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
