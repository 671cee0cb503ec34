"""Vehicle groups: each vehicle's set of named groups of its tenant, for filtering and per-group settings.

Revision ID: 0009
Revises: 0008

- `vehicles.groups`: a JSON list of group names (sorted, no repeats, at most 20; `fleet.registry.service` checks the
  names), `[]` for a vehicle in no group. JSONB on PostgreSQL: it has the containment operator the filter uses
  (`groups @> '["depot north"]'`) and the equality a comparison of server defaults needs; JSON (text) on SQLite.

Why a JSON list on the vehicle rather than a `vehicle_groups (vehicle_id, name)` table:

- A vehicle's groups are read with the vehicle (every vehicle answer shows them) and written as a whole set (create,
  PATCH and the bulk update replace it): one column is read and written with the row, with no second query per
  page, no rows to diff on each update and nothing left behind when a vehicle is deleted.
- Filtering is always within one tenant: `GET /v1/vehicles?group=` goes through `ix_vehicles_tenant_id` and tests
  each of that tenant's vehicles (hundreds, a few thousand at most) with `@>` on PostgreSQL and `json_each` on
  SQLite, at most 20 names each. An index on the name alone would serve a lookup across tenants,
  which nothing does.
- Per-group alarm thresholds (planned) will read a vehicle's groups with the vehicle, the same way. Should a query
  ever need vehicles by group across a large tenant, a GIN index on the column (PostgreSQL) or a table derived
  from this column can be added as an expand-only migration without changing the API.

Expand only: the server default `[]` gives the previous release's inserts (and every existing vehicle) no groups,
so a rollback keeps working on this schema.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vehicles") as batch:
        groups = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
        batch.add_column(sa.Column("groups", groups, nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("vehicles") as batch:
        batch.drop_column("groups")
