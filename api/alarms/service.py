"""Alarms over HTTP: pages and counts of the tenant's alarms, one with its event, acknowledging and closing.

The rules (which state may go where, the audit entries `alarm.acknowledge` and `alarm.close`) are
`fleet.alarms.service`'s; each change is also a message of the tenant's live feed, in the request's transaction.
"""

from collections import Counter
from collections.abc import Sequence

from sqlalchemy.orm import Session

from api.alarms import repository
from api.alarms.repository import AlarmFilter
from api.alarms.schemas import AlarmActionIn, AlarmCounts, AlarmDetail, AlarmOut, AlarmPage
from api.events.schemas import EventOut
from api.events.service import MAX_ID, Criteria, at_least, bounds, parse_types
from api.tenancy.service import Principal
from api.timeseries.window import decode_cursor, encode_cursor
from fleet.alarms import service as alarms
from fleet.alarms.service import ALARMING, CLOSED, STATES
from fleet.db.models import Alarm, utcnow
from fleet.errors import Invalid, NotFound
from fleet.events.views import alarm_view
from fleet.live import feed
from fleet.live.feed import Kind, Message
from fleet.registry.service import find_vehicle_id

ALL = "all"
NOT_CLOSED = tuple(state for state in STATES if state != CLOSED)


def parse_states(values: Sequence[str]) -> tuple[str, ...]:
    """The states of repeated and comma-separated `state` values: `all`, or some of STATES; none: not closed."""
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    bad = sorted(names - {*STATES, ALL})
    if bad:
        raise Invalid(f"invalid state {bad[0][:40]!r}: use {', '.join(STATES)} or {ALL}")
    if ALL in names:
        return STATES
    return tuple(state for state in STATES if state in names) or NOT_CLOSED


def list_alarms(
    session: Session,
    tenant_id: int,
    device_id: str | None,
    states: Sequence[str],
    criteria: Criteria,
    limit: int,
    cursor: str | None,
) -> AlarmPage:
    """A page of the tenant's alarms that match, newest first."""
    where = _filter(session, tenant_id, device_id, states, criteria)
    after = decode_cursor(cursor) if cursor is not None else None
    rows = repository.alarms_page(session, tenant_id, where, after, limit + 1)
    page = rows[:limit]
    last = page[-1][0] if len(rows) > limit else None
    return AlarmPage(
        items=[AlarmOut.from_row(alarm, device) for alarm, device in page],
        next=encode_cursor(last.opened_at, last.id) if last is not None else None,
    )


def count_alarms(
    session: Session, tenant_id: int, device_id: str | None, states: Sequence[str], criteria: Criteria
) -> AlarmCounts:
    """How many of the tenant's alarms match, per type, state and severity."""
    where = _filter(session, tenant_id, device_id, states, criteria)
    by_type: Counter[str] = Counter()
    by_state: Counter[str] = Counter(dict.fromkeys(where.states, 0))
    by_severity: Counter[str] = Counter(dict.fromkeys(ALARMING, 0))
    for alarm_type, state, severity, count in repository.count_by_type_state_and_severity(session, tenant_id, where):
        by_type[alarm_type] += count
        by_state[state] += count
        by_severity[severity] += count
    return AlarmCounts(
        total=by_type.total(),
        by_type=dict(sorted(by_type.items())),
        by_state=dict(by_state),
        by_severity=dict(by_severity),
    )


def get_alarm(session: Session, tenant_id: int, alarm_id: int) -> AlarmDetail:
    """One of the tenant's alarms with its event; 404 for another tenant's or an impossible id."""
    found = repository.alarm_of_tenant(session, tenant_id, alarm_id) if 1 <= alarm_id <= MAX_ID else None
    if found is None:
        raise NotFound(f"no alarm {str(alarm_id)[:20]}")
    alarm, device_id, event = found
    detail = EventOut.from_row(event, device_id) if event is not None else None
    return AlarmDetail(**AlarmOut.from_row(alarm, device_id).model_dump(), event_detail=detail)


def acknowledge(session: Session, principal: Principal, alarm_id: int, body: AlarmActionIn | None) -> AlarmOut:
    """Take one of the tenant's open alarms in hand; 409 unless it is open."""
    comment = body.comment if body is not None else None
    alarm, device_id = alarms.acknowledge(session, principal.tenant_id, alarm_id, principal.actor, comment, utcnow())
    return _published(session, alarm, device_id)


def close(session: Session, principal: Principal, alarm_id: int, body: AlarmActionIn | None) -> AlarmOut:
    """Close one of the tenant's alarms, acknowledged or not; 409 once closed."""
    comment = body.comment if body is not None else None
    alarm, device_id = alarms.close(session, principal.tenant_id, alarm_id, principal.actor, comment, utcnow())
    return _published(session, alarm, device_id)


def _published(session: Session, alarm: Alarm, device_id: str) -> AlarmOut:
    """The changed alarm, also written to the tenant's live feed."""
    session.flush()
    view = alarm_view(alarm, device_id)
    feed.publish(session.connection(), [Message(alarm.tenant_id, Kind.ALARM, view)])
    return AlarmOut.model_validate(view)


def _filter(
    session: Session, tenant_id: int, device_id: str | None, states: Sequence[str], criteria: Criteria
) -> AlarmFilter:
    since, until = bounds(criteria.since, criteria.until)
    types, severities = parse_types(criteria.types), at_least(criteria.severity)
    vehicle_id = find_vehicle_id(session, tenant_id, device_id) if device_id is not None else None
    return AlarmFilter(parse_states(states), vehicle_id, types, severities, since, until)
