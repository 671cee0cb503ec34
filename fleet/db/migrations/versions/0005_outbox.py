"""The downlink outbox: messages for the vehicles' units, written by the API's transactions, sent by the dispatcher.

Revision ID: 0005
Revises: 0004

- `state`: pending -> sent | expired | cancelled, checked by a constraint.
- `ix_outbox_pending`: partial on pending rows, (vehicle_id, id): the dispatcher's claim (each vehicle's first due
  message with `FOR UPDATE SKIP LOCKED`, then the ones after it), the expiry sweep and the pending gauge. It stays
  as small as the backlog however many sent rows the table keeps.
- `ix_outbox_vehicle_id_id`: a vehicle's messages in order, and the cascade when a vehicle is deleted.
Expand only: nothing of the previous release reads or writes this table.
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import BigId, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("suffix", sa.String(32), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("not_before", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", UtcDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_outbox_tenant_id_tenants", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name="fk_outbox_vehicle_id_vehicles", ondelete="CASCADE"
        ),
        sa.CheckConstraint("state IN ('pending', 'sent', 'expired', 'cancelled')", name="ck_outbox_state"),
    )
    op.create_index("ix_outbox_tenant_id", "outbox", ["tenant_id"])
    op.create_index("ix_outbox_vehicle_id_id", "outbox", ["vehicle_id", "id"])
    pending = sa.text("state = 'pending'")
    op.create_index("ix_outbox_pending", "outbox", ["vehicle_id", "id"], postgresql_where=pending, sqlite_where=pending)


def downgrade() -> None:
    op.drop_table("outbox")
