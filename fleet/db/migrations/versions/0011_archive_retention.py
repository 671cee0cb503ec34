"""The cold tier: what has been archived to the blob store as Parquet, and per-tenant retention overrides.

Revision ID: 0011
Revises: 0010

- `archive_days`: one row per (table, UTC day) the archive has exported: its state (`exported` once the files and
  the manifest are written, `verified` once they were read back and matched, `stale` when retention found rows
  the archive does not hold, so the day must be exported again), the row count and the manifest's key.
- `archive_parts`: the Parquet files of a day, one per tenant and part. A tenant's rows of a day are in part n,
  rewritten while all of them are still in the database; once retention removed them (`purged_at`), rows that
  arrive later for that day go to part n + 1, so an archived row is never overwritten by a smaller file.
- `retention_overrides`: days a tenant keeps a table in the hot tier, instead of the FLEET_RETENTION_* default.
Expand only: the previous release neither reads nor writes these.
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_days",
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("manifest_key", sa.String(1024), nullable=False),
        sa.Column("exported_at", UtcDateTime, nullable=False),
        sa.Column("verified_at", UtcDateTime, nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("table_name", "day", name="pk_archive_days"),
        sa.CheckConstraint("state IN ('exported', 'verified', 'stale')", name="ck_archive_days_state"),
    )
    op.create_table(
        "archive_parts",
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("min_ts", UtcDateTime, nullable=False),
        sa.Column("max_ts", UtcDateTime, nullable=False),
        sa.Column("exported_at", UtcDateTime, nullable=False),
        sa.Column("purged_at", UtcDateTime, nullable=True),
        sa.PrimaryKeyConstraint("table_name", "day", "tenant_id", "part", name="pk_archive_parts"),
    )
    # The API's archived reads: a tenant's parts of a table over a window of days.
    op.create_index("ix_archive_parts_tenant_id_table_name_day", "archive_parts", ["tenant_id", "table_name", "day"])
    op.create_table(
        "retention_overrides",
        sa.Column("tenant_id", sa.Integer, nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "table_name", name="pk_retention_overrides"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_retention_overrides_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.CheckConstraint("days >= 1", name="ck_retention_overrides_days"),
    )


def downgrade() -> None:
    op.drop_table("retention_overrides")
    op.drop_index("ix_archive_parts_tenant_id_table_name_day", table_name="archive_parts")
    op.drop_table("archive_parts")
    op.drop_table("archive_days")
