"""Dead-letter replays requested through the API, published by the dispatcher.

Revision ID: 0008
Revises: 0007

- `dead_letters.replay_requested_at`: set by a replay request (the API never publishes inside a request), cleared
  when the dispatcher has published the letter and marked it replayed.
- `ix_dead_letters_replay_requested`: partial on requested letters: the dispatcher's claim reads only those.
Expand only: the previous release ignores the column, and its replays (published by the API) still work.
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("replay_requested_at", UtcDateTime, nullable=True))
    requested = sa.text("replay_requested_at IS NOT NULL")
    op.create_index(
        "ix_dead_letters_replay_requested",
        "dead_letters",
        ["id"],
        postgresql_where=requested,
        sqlite_where=requested,
    )


def downgrade() -> None:
    op.drop_index("ix_dead_letters_replay_requested", "dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("replay_requested_at")
