"""Token roles and lifecycle (name, role, expiry, revocation, last use) and the audit log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import BigId, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Expand only: the previous release inserts tokens without a name or a role, so after a rollback its tokens
    # get a null name (read as "token-<id>") and the role every token had before roles existed: admin.
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("name", sa.String(100), nullable=True))
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="admin"))
        batch.add_column(sa.Column("expires_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("revoked_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("last_used_at", UtcDateTime, nullable=True))
    # Existing tokens keep working as admins, named after their id.
    op.execute("UPDATE api_tokens SET name = 'token-' || CAST(id AS VARCHAR(20)) WHERE name IS NULL")
    with op.batch_alter_table("api_tokens") as batch:
        batch.create_unique_constraint("uq_api_tokens_tenant_id_name", ["tenant_id", "name"])
        batch.create_check_constraint("ck_api_tokens_role", "role IN ('viewer', 'operator', 'admin')")

    op.create_table(
        "audit_log",
        sa.Column("id", BigId, nullable=False, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, nullable=True),
        sa.Column("ts", UtcDateTime, nullable=False),
        sa.Column("token_id", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_audit_log_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name="fk_audit_log_token_id_api_tokens", ondelete="SET NULL"
        ),
    )
    # GET /v1/audit: a tenant's entries, newest (highest id) first, before a cursor id.
    op.create_index("ix_audit_log_tenant_id_id", "audit_log", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("ck_api_tokens_role", type_="check")
        batch.drop_constraint("uq_api_tokens_tenant_id_name", type_="unique")
        for column in ("last_used_at", "revoked_at", "expires_at", "role", "name"):
            batch.drop_column(column)
