"""Commands to the vehicles' units and the history of their states.

Revision ID: 0007
Revises: 0006

- `commands`: one row per command; `state` queued -> sent -> delivered -> done | failed | rejected, or expired /
  cancelled, checked by a constraint; an Idempotency-Key is unique per tenant.
- `ix_commands_open`: partial on queued and sent commands, by expiry: the expiry sweep reads only those.
- `command_transitions`: each state a command reached, when, and why.
Expand only: the previous release neither reads nor writes these.
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import BigId, UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATES = "'queued', 'sent', 'delivered', 'done', 'failed', 'rejected', 'expired', 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime, nullable=True),
        sa.Column("delivered_at", UtcDateTime, nullable=True),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("outbox_id", BigId, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_commands"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_commands_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name="fk_commands_vehicle_id_vehicles", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name="fk_commands_outbox_id_outbox", ondelete="SET NULL"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_commands_tenant_id_idempotency_key"),
        sa.CheckConstraint(f"state IN ({STATES})", name="ck_commands_state"),
    )
    op.create_index("ix_commands_tenant_id", "commands", ["tenant_id"])
    op.create_index("ix_commands_outbox_id", "commands", ["outbox_id"])
    op.create_index("ix_commands_vehicle_id_id", "commands", ["vehicle_id", "id"])
    open_states = sa.text("state IN ('queued', 'sent')")
    op.create_index(
        "ix_commands_open", "commands", ["expires_at"], postgresql_where=open_states, sqlite_where=open_states
    )
    op.create_table(
        "command_transitions",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("command_id", BigId, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_command_transitions"),
        sa.ForeignKeyConstraint(
            ["command_id"],
            ["commands.id"],
            name="fk_command_transitions_command_id_commands",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_command_transitions_command_id", "command_transitions", ["command_id"])


def downgrade() -> None:
    op.drop_table("command_transitions")
    op.drop_table("commands")
