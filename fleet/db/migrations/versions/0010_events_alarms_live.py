"""Events and alarms, detector thresholds and state, geofences, the live feed and webhooks.

Revision ID: 0010
Revises: 0009

- `events`: what the units report (stream `evt`) and what the detection finds in the telemetry, one row per event
  (`key` unique per vehicle), in the vehicle's time.
- `alarms`: warning and critical events as the operator handles them (open -> acknowledged -> closed).
- `event_rules`, `geofences`: a tenant's thresholds (per vehicle group) and polygons.
- `detector_state`: per vehicle, the last record the detection saw and its state after it.
- `live_feed`: the messages of `GET /v1/stream` (kept minutes), `webhooks` and `webhook_deliveries`, and `cursors`
  (the webhook fan-out's place in the feed).
Expand only: the previous release neither reads nor writes these. Events are not partitioned: a bus makes a few per
hour, not one per second.
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import BigId, UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SEVERITIES = "'info', 'warning', 'critical'"


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def _vehicle_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["vehicle_id"], ["vehicles.id"], name=f"fk_{table}_vehicle_id_vehicles", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("ended_at", UtcDateTime, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("speed_kmh", sa.Float, nullable=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("unit_event_id", sa.String(64), nullable=True),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        _tenant_fk("events"),
        _vehicle_fk("events"),
        sa.UniqueConstraint("vehicle_id", "key", name="uq_events_vehicle_id_key"),
        sa.CheckConstraint("source IN ('unit', 'detector')", name="ck_events_source"),
        sa.CheckConstraint(f"severity IN ({SEVERITIES})", name="ck_events_severity"),
    )
    op.create_index("ix_events_tenant_id_started_at_id", "events", ["tenant_id", "started_at", "id"])
    op.create_index("ix_events_vehicle_id_started_at", "events", ["vehicle_id", "started_at"])

    op.create_table(
        "alarms",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("event_id", BigId, nullable=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("acknowledged_at", UtcDateTime, nullable=True),
        sa.Column("acknowledged_by", sa.String(100), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("closed_at", UtcDateTime, nullable=True),
        sa.Column("closed_by", sa.String(100), nullable=True),
        sa.Column("close_reason", sa.String(200), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
        _tenant_fk("alarms"),
        _vehicle_fk("alarms"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_alarms_event_id_events", ondelete="SET NULL"),
        sa.UniqueConstraint("event_id", name="uq_alarms_event_id"),
        sa.CheckConstraint("state IN ('open', 'acknowledged', 'closed')", name="ck_alarms_state"),
        sa.CheckConstraint("severity IN ('warning', 'critical')", name="ck_alarms_severity"),
    )
    op.create_index("ix_alarms_tenant_id_opened_at_id", "alarms", ["tenant_id", "opened_at", "id"])
    op.create_index("ix_alarms_vehicle_id", "alarms", ["vehicle_id"])
    not_closed = sa.text("state <> 'closed'")
    op.create_index(
        "ix_alarms_not_closed", "alarms", ["tenant_id"], postgresql_where=not_closed, sqlite_where=not_closed
    )

    op.create_table(
        "event_rules",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("detector", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_rules"),
        _tenant_fk("event_rules"),
        sa.UniqueConstraint("tenant_id", "group_name", "detector", name="uq_event_rules_tenant_id_group_name_detector"),
    )
    op.create_table(
        "geofences",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("polygon", sa.JSON, nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_geofences"),
        _tenant_fk("geofences"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_geofences_tenant_id_name"),
        sa.CheckConstraint(f"severity IN ({SEVERITIES})", name="ck_geofences_severity"),
    )
    op.create_table(
        "detector_state",
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("last_ts", UtcDateTime, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("vehicle_id", name="pk_detector_state"),
        _vehicle_fk("detector_state"),
    )

    op.create_table(
        "live_feed",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_live_feed"),
        _tenant_fk("live_feed"),
    )
    op.create_index("ix_live_feed_tenant_id_id", "live_feed", ["tenant_id", "id"])
    op.create_index("ix_live_feed_created_at", "live_feed", ["created_at"])

    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("kinds", sa.JSON, nullable=False),
        sa.Column("event_types", sa.JSON, nullable=False),
        sa.Column("min_severity", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        _tenant_fk("webhooks"),
    )
    op.create_index("ix_webhooks_tenant_id", "webhooks", ["tenant_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("webhook_id", sa.Integer, nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("feed_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("delivered_at", UtcDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name="fk_webhook_deliveries_webhook_id_webhooks", ondelete="CASCADE"
        ),
        _tenant_fk("webhook_deliveries"),
        sa.UniqueConstraint("webhook_id", "feed_id", name="uq_webhook_deliveries_webhook_id_feed_id"),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'dead')", name="ck_webhook_deliveries_state"),
    )
    pending = sa.text("state = 'pending'")
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=pending,
        sqlite_where=pending,
    )
    op.create_index("ix_webhook_deliveries_webhook_id_id", "webhook_deliveries", ["webhook_id", "id"])
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_cursors"),
    )


def downgrade() -> None:
    for table in (
        "cursors", "webhook_deliveries", "webhooks", "live_feed", "detector_state", "geofences", "event_rules",
        "alarms", "events",
    ):  # fmt: skip
        op.drop_table(table)
