"""Files of the vehicles' units (metadata; bytes in the blob store), tachograph periods and exemption.

Revision ID: 0006
Revises: 0005

- `files`: one row per (vehicle, unit file id); `state` offered -> uploaded -> verified | rejected, or failed.
- `ix_files_work`: partial on what the worker must do (offers to answer, uploads to check): as small as the queue.
- `tenants.tachograph_vu_days` / `tachograph_card_days`: a tenant's national periods (NULL: the settings' EU ones).
- `vehicles.tachograph_required`: false for a vehicle exempt under EU 561/2006 art. 3a.
Expand only: the previous release neither reads nor writes these.
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import BigId, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("tachograph_vu_days", sa.SmallInteger, nullable=True))
    op.add_column("tenants", sa.Column("tachograph_card_days", sa.SmallInteger, nullable=True))
    op.add_column(
        "vehicles", sa.Column("tachograph_required", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )
    op.create_table(
        "files",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("vehicle_id", sa.Integer, nullable=False),
        sa.Column("file_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(127), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("object_key", sa.String(1024), nullable=False),
        sa.Column("upload_id", sa.String(1024), nullable=True),
        sa.Column("part_size_bytes", sa.BigInteger, nullable=True),
        sa.Column("answer_due", sa.Boolean, nullable=False),
        sa.Column("answer_error", sa.Text, nullable=True),
        sa.Column("offered_at", UtcDateTime, nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("granted_at", UtcDateTime, nullable=True),
        sa.Column("uploaded_at", UtcDateTime, nullable=True),
        sa.Column("verified_at", UtcDateTime, nullable=True),
        sa.Column("started_at", UtcDateTime, nullable=True),
        sa.Column("ended_at", UtcDateTime, nullable=True),
        sa.Column("camera", sa.String(64), nullable=True),
        sa.Column("driver_card_id", sa.String(32), nullable=True),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("command_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("retain_until", UtcDateTime, nullable=True),
        sa.Column("legal_hold", sa.Boolean, nullable=False),
        sa.Column("legal_hold_reason", sa.String(500), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_files_tenant_id_tenants", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name="fk_files_vehicle_id_vehicles", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("vehicle_id", "file_id", name="uq_files_vehicle_id_file_id"),
        sa.CheckConstraint("state IN ('offered', 'uploaded', 'verified', 'rejected', 'failed')", name="ck_files_state"),
    )
    op.create_index("ix_files_tenant_id_offered_at_id", "files", ["tenant_id", "offered_at", "id"])
    op.create_index("ix_files_vehicle_id_kind_offered_at", "files", ["vehicle_id", "kind", "offered_at"])
    work = sa.text("answer_due OR state = 'uploaded'")
    op.create_index("ix_files_work", "files", ["id"], postgresql_where=work, sqlite_where=work)
    op.create_index("ix_files_retain_until", "files", ["retain_until"])


def downgrade() -> None:
    op.drop_table("files")
    op.drop_column("vehicles", "tachograph_required")
    op.drop_column("tenants", "tachograph_card_days")
    op.drop_column("tenants", "tachograph_vu_days")
