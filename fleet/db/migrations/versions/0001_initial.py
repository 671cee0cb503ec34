"""Initial schema: tenants, tokens, vehicles, positions, CAN samples, latest state, dead letters.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import BigId, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Time series are range-partitioned by day on PostgreSQL (ingest creates partitions on demand); the
# primary key (vehicle_id, ts) is the idempotency key and must contain the partition column.
PARTITION_BY_DAY = "RANGE (ts)"


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_api_tokens_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_tenant_id", "api_tokens", ["tenant_id"])
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100)),
        sa.Column("plate", sa.String(32)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vehicles"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_vehicles_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("device_id", name="uq_vehicles_device_id"),
    )
    op.create_index("ix_vehicles_tenant_id", "vehicles", ["tenant_id"])
    op.create_table(
        "positions",
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("ts", UtcDateTime, nullable=False),
        sa.Column("seq", BigId, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("speed_kmh", sa.Float),
        sa.Column("heading_deg", sa.Float),
        sa.Column("alt_m", sa.Float),
        sa.Column("sats", sa.SmallInteger),
        sa.Column("hdop", sa.Float),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("vehicle_id", "ts", name="pk_positions"),
        postgresql_partition_by=PARTITION_BY_DAY,
    )
    op.create_table(
        "can_samples",
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("ts", UtcDateTime, nullable=False),
        sa.Column("seq", BigId, nullable=False),
        sa.Column("fuel_level_pct", sa.Float),
        sa.Column("fuel_used_total_l", sa.Float),
        sa.Column("distance_total_km", sa.Float),
        sa.Column("engine_speed_rpm", sa.Float),
        sa.Column("engine_hours_total_h", sa.Float),
        sa.Column("coolant_temp_c", sa.Float),
        sa.Column("doors_open_mask", sa.Integer),
        sa.Column("door_count", sa.SmallInteger),
        sa.Column("passenger_count", sa.Integer),
        sa.Column("battery_soc_pct", sa.Float),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("vehicle_id", "ts", name="pk_can_samples"),
        postgresql_partition_by=PARTITION_BY_DAY,
    )
    op.create_table(
        "vehicle_state",
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("pos_ts", UtcDateTime),
        sa.Column("pos_seq", BigId),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("speed_kmh", sa.Float),
        sa.Column("heading_deg", sa.Float),
        sa.Column("can_ts", UtcDateTime),
        sa.Column("can_seq", BigId),
        sa.Column("fuel_level_pct", sa.Float),
        sa.Column("distance_total_km", sa.Float),
        sa.Column("passenger_count", sa.Integer),
        sa.Column("battery_soc_pct", sa.Float),
        sa.Column("doors_open_mask", sa.Integer),
        sa.Column("door_count", sa.SmallInteger),
        sa.Column("status_ts", UtcDateTime),
        sa.Column("status_seq", BigId),
        sa.Column("online", sa.Boolean),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("vehicle_id", name="pk_vehicle_state"),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name="fk_vehicle_state_vehicle_id_vehicles", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("device_id", sa.String(64)),
        sa.Column("tenant_id", sa.Integer),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("replayed_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_dead_letters_tenant_id_tenants", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])
    op.create_index("ix_dead_letters_device_id", "dead_letters", ["device_id"])
    op.create_index("ix_dead_letters_tenant_id_received_at", "dead_letters", ["tenant_id", "received_at"])


def downgrade() -> None:
    for table in ("dead_letters", "vehicle_state", "can_samples", "positions", "vehicles", "api_tokens", "tenants"):
        op.drop_table(table)
