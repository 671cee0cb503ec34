"""Events over HTTP: pages of the tenant's events (of one vehicle, or all), their counts, one event.

The filters (`Criteria`) are shared with the alarms: event types as a repeated or comma-separated `type`, a minimum
severity, and bounds on the time the event started.
"""

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from api.events import repository
from api.events.repository import EventFilter
from api.events.schemas import EventCounts, EventOut, EventPage
from api.timeseries.window import decode_cursor, encode_cursor
from fleet.contract.events import EVENT_TYPE_PATTERN, SEVERITIES, Severity
from fleet.errors import Invalid, NotFound
from fleet.registry.service import find_vehicle_id

# Ids are signed 64-bit; a larger one is no event of anyone's, and never reaches the database.
MAX_ID = 2**63 - 1
MAX_TYPES = 50
_TYPE = re.compile(EVENT_TYPE_PATTERN)


@dataclass(frozen=True, slots=True)
class Criteria:
    """Filters as the query gave them: types (each possibly a comma list), minimum severity, start bounds."""

    types: Sequence[str] = ()
    severity: Severity | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_types(values: Sequence[str]) -> tuple[str, ...]:
    """The event types of repeated and comma-separated `type` values; 422 for one that cannot be a type."""
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    bad = sorted(name for name in names if not _TYPE.fullmatch(name))
    if bad:
        raise Invalid(f"invalid event type {bad[0][:70]!r}: 1-64 of a-z 0-9 _, starting with a letter")
    if len(names) > MAX_TYPES:
        raise Invalid(f"at most {MAX_TYPES} event types at once")
    return tuple(sorted(names))


def at_least(severity: Severity | None) -> tuple[str, ...]:
    """The severities from `severity` up (none: no filter)."""
    return SEVERITIES[SEVERITIES.index(severity) :] if severity is not None else ()


def bounds(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """`since` and `until` in UTC; 422 unless since is before until."""
    try:
        since = since.astimezone(UTC) if since is not None else None
        until = until.astimezone(UTC) if until is not None else None
    except OverflowError:
        raise Invalid("since/until out of the supported range of years 1 to 9999") from None
    if since is not None and until is not None and since >= until:
        raise Invalid("since must be before until")
    return since, until


def list_events(
    session: Session,
    tenant_id: int,
    device_id: str | None,
    source: str | None,
    criteria: Criteria,
    limit: int,
    cursor: str | None,
) -> EventPage:
    """A page of the tenant's events that match, newest start first."""
    where = _filter(session, tenant_id, device_id, source, criteria)
    after = decode_cursor(cursor) if cursor is not None else None
    rows = repository.events_page(session, tenant_id, where, after, limit + 1)
    page = rows[:limit]
    last = page[-1][0] if len(rows) > limit else None
    return EventPage(
        items=[EventOut.from_row(event, device) for event, device in page],
        next=encode_cursor(last.started_at, last.id) if last is not None else None,
    )


def count_events(
    session: Session, tenant_id: int, device_id: str | None, source: str | None, criteria: Criteria
) -> EventCounts:
    """How many of the tenant's events match, per type and per severity."""
    where = _filter(session, tenant_id, device_id, source, criteria)
    by_type: Counter[str] = Counter()
    by_severity: Counter[str] = Counter(dict.fromkeys(SEVERITIES, 0))
    for event_type, severity, count in repository.count_by_type_and_severity(session, tenant_id, where):
        by_type[event_type] += count
        by_severity[severity] += count
    return EventCounts(total=by_type.total(), by_type=dict(sorted(by_type.items())), by_severity=dict(by_severity))


def get_event(session: Session, tenant_id: int, event_id: int) -> EventOut:
    """One of the tenant's events; 404 for another tenant's or an impossible id."""
    found = repository.event_of_tenant(session, tenant_id, event_id) if 1 <= event_id <= MAX_ID else None
    if found is None:
        raise NotFound(f"no event {str(event_id)[:20]}")
    return EventOut.from_row(*found)


def _filter(
    session: Session, tenant_id: int, device_id: str | None, source: str | None, criteria: Criteria
) -> EventFilter:
    since, until = bounds(criteria.since, criteria.until)
    types, severities = parse_types(criteria.types), at_least(criteria.severity)
    vehicle_id = find_vehicle_id(session, tenant_id, device_id) if device_id is not None else None
    return EventFilter(vehicle_id, types, source, severities, since, until)
