"""Daily partitions ahead of ingest (PostgreSQL): today's and the next FLEET_WORKER_PARTITIONS_AHEAD_DAYS days'.

Creating a partition locks its parent table; done here, days ahead, ingest meets no DDL when the first record of
a new day arrives. Ingest still creates a missing partition itself (a worker that was down, a late record of a
day retention dropped).
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from fleet.db.models import utcnow
from fleet.db.partitions import ensure_partitions, partition_days
from fleet.streams import PARTITIONED_TABLES

logger = logging.getLogger(__name__)

# Checked this often, and at the worker's start: the partitions exist days before they are needed, so an hour's
# delay costs nothing.
EVERY_SECONDS = 3600.0
# A creation waits at most this long for the parent table (held by ingest and readers), then tries again soon.
LOCK_TIMEOUT = "3s"
RETRY_SECONDS = 60.0


class PartitionsStep:
    """Keeps the partitions of today and the next days in place (`run_when_due`, once per worker pass)."""

    def __init__(self, engine: Engine, days_ahead: int, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.days_ahead = days_ahead
        self.clock = clock
        self._next_at = 0.0

    def run_when_due(self) -> None:
        """Create the missing partitions if the last check is EVERY_SECONDS old."""
        if self.engine.dialect.name != "postgresql" or time.monotonic() < self._next_at:
            return
        try:
            self.run()
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != "55P03":
                raise
            logger.info("partitions ahead: a table is busy, trying again in %.0fs", RETRY_SECONDS)
            self._next_at = time.monotonic() + RETRY_SECONDS
            return
        self._next_at = time.monotonic() + EVERY_SECONDS

    def run(self) -> None:
        """Create the partitions of today .. today + days_ahead that do not exist, one transaction."""
        today = self.clock().date()
        wanted = {today + timedelta(days=n) for n in range(self.days_ahead + 1)}
        with self.engine.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            for table in PARTITIONED_TABLES:
                missing = wanted - set(partition_days(connection, table))
                if missing:
                    ensure_partitions(connection, table, missing)
                    logger.info("partitions ahead: created %s for %s", table, ", ".join(map(str, sorted(missing))))
