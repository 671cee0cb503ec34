"""Daily range partitions of the time-series tables on PostgreSQL: created on demand or ahead, listed, dropped."""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from fleet.streams import PARTITIONED_TABLES


def partition_name(table: str, day: date) -> str:
    """Name of the partition of `table` holding `day` (UTC)."""
    return f"{table}_p{day:%Y%m%d}"


def ensure_partitions(connection: Connection, table: str, days: Iterable[date]) -> None:
    """Create the missing daily partitions of `table`; safe against concurrent writers."""
    if connection.dialect.name != "postgresql":
        return
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"{table} is not partitioned")
    for day in sorted(set(days)):
        name = partition_name(table, day)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # Two ingest workers may meet the same new day at once: the lock serialises the CREATE.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
        connection.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')"
            )
        )


def partition_days(connection: Connection, table: str) -> list[date]:
    """The days of `table`'s existing daily partitions, oldest first (PostgreSQL; none elsewhere)."""
    if connection.dialect.name != "postgresql":
        return []
    children = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:table AS regclass)"
        ),
        {"table": table},
    ).scalars()
    prefix = f"{table}_p"
    days = []
    for name in children:
        suffix = name[len(prefix) :]
        if name.startswith(prefix) and len(suffix) == 8 and suffix.isdigit():
            days.append(datetime.strptime(suffix, "%Y%m%d").date())
    return sorted(days)


def drop_partition(connection: Connection, table: str, day: date) -> None:
    """Drop the partition of `table` holding `day` with its rows; ingest creates it again for a late record."""
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"{table} is not partitioned")
    connection.execute(text(f"DROP TABLE IF EXISTS {partition_name(table, day)}"))


def lock_partition(connection: Connection, table: str, day: date) -> bool:
    """Hold off writers of `table`'s partition of `day` until the transaction ends; False when there is none."""
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"{table} is not partitioned")
    name = partition_name(table, day)
    if connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is None:
        return False
    # SHARE ROW EXCLUSIVE: readers go on, inserts (ROW EXCLUSIVE) wait, and so does another locker.
    connection.execute(text(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE"))
    return True
