"""What retention keeps: the retained tables, and the first day each tenant keeps of one (defaults and overrides)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

# Every table with a retention: FLEET_RETENTION_<TABLE>_DAYS, overridden per tenant by `fleet retention set`.
RETAINED_TABLES = ("positions", "can_samples", "events", "alarms", "dead_letters", "webhook_deliveries", "outbox")


@dataclass(frozen=True)
class Cutoffs:
    """The first day a table keeps, for every tenant: rows of earlier (UTC) days are past retention."""

    table: str
    default: date
    overrides: Mapping[int, date] = field(default_factory=dict)

    def of(self, tenant_id: int | None) -> date:
        """The first day kept of `tenant_id`'s rows (the default for rows of no tenant)."""
        if tenant_id is None:
            return self.default
        return self.overrides.get(tenant_id, self.default)

    @property
    def earliest(self) -> date:
        """The cutoff of the longest retention: days before it are past retention for every tenant."""
        return min([self.default, *self.overrides.values()])

    @property
    def latest(self) -> date:
        """The cutoff of the shortest retention: days from it on are kept for every tenant."""
        return max([self.default, *self.overrides.values()])


def cutoffs(table: str, default_days: int, override_days: Mapping[int, int], today: date) -> Cutoffs:
    """The cutoffs of `table` on `today`: `days` back from it for each tenant."""
    return Cutoffs(
        table,
        today - timedelta(days=default_days),
        {tenant: today - timedelta(days=days) for tenant, days in override_days.items()},
    )


def day_start(day: date) -> datetime:
    """Midnight UTC that starts `day`."""
    return datetime.combine(day, time(), UTC)
