"""Broker credentials of the vehicles' units: a hash of each secret, when it was issued, when revoked.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vehicle_credentials",
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime, nullable=True),
        sa.PrimaryKeyConstraint("vehicle_id", name="pk_vehicle_credentials"),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name="fk_vehicle_credentials_vehicle_id_vehicles", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("vehicle_credentials")
