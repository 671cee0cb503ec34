"""Daily range partitions of the time-series tables on PostgreSQL, created on demand."""

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
