"""Dead letter repeats: one letter per distinct bad message, counting the times it came back and was replayed.

Revision ID: 0003
Revises: 0002

- `fingerprint`: SHA-256 of the topic, a NUL and the payload (`fleet.deadletters.service.fingerprint`), unique.
  Ingest records a message that comes back bad (a replay that fails again, a device re-sending it, a retained
  message sent again on each subscribe) on the letter it already has, instead of adding a row each time. Letters
  written before this revision keep no fingerprint and are never matched: hashing every stored payload here
  would lock the table for long, and their duplicates (the very rows this revision stops) would collide.
- `repeat_count`, `last_seen_at`: how many more times the message came in bad, and when it last did.
- `replay_count`: how many times the letter was replayed; a replay of every pending letter skips one replayed
  `fleet.deadletters.service.BULK_REPLAYS` times already, so replaying "until nothing is left" ends.
"""

import sqlalchemy as sa
from alembic import op

from fleet.db.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("fingerprint", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("repeat_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_seen_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("replay_count", sa.Integer, nullable=False, server_default="0"))
    # Every existing row has a null fingerprint, and nulls never collide: the index builds without a conflict.
    op.create_index("ix_dead_letters_fingerprint", "dead_letters", ["fingerprint"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_dead_letters_fingerprint", table_name="dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        for column in ("replay_count", "last_seen_at", "repeat_count", "fingerprint"):
            batch.drop_column(column)
