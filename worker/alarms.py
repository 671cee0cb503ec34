"""The alarm gauges: alarms not closed per type, severity and state, and how long the oldest open one has waited.

An alarm's wait counts from when the backend raised it (`created_at`), not from its event's start in the vehicle's
time: a unit that was offline for hours reports its buffered events late, and those are new to the operators.
"""

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.alarms.service import ALARMING, CLOSED, OPEN
from fleet.db.models import Alarm
from worker import metrics

_KNOWN_TYPES = frozenset(metrics.ALARM_TYPE_LABELS)


def refresh_gauges(session: Session, now: datetime) -> None:
    """Set fleet_worker_alarms and fleet_worker_alarm_oldest_unacknowledged_seconds from the database."""
    counts: Counter[tuple[str, str, str]] = Counter()
    grouped = select(Alarm.type, Alarm.severity, Alarm.state, func.count()).where(Alarm.state != CLOSED)
    for alarm_type, severity, state, count in session.execute(
        grouped.group_by(Alarm.type, Alarm.severity, Alarm.state)
    ):
        counts[(alarm_type if alarm_type in _KNOWN_TYPES else "other", severity, state)] += count
    oldest_query = select(Alarm.severity, func.min(Alarm.created_at)).where(Alarm.state == OPEN)
    oldest = {severity: since for severity, since in session.execute(oldest_query.group_by(Alarm.severity))}
    for label in metrics.ALARM_TYPE_LABELS:
        for severity in ALARMING:
            for state in metrics.ALARM_STATES:
                metrics.ALARMS.labels(label, severity, state).set(counts[(label, severity, state)])
    for severity in ALARMING:
        since = oldest.get(severity)
        age = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
        metrics.ALARM_OLDEST_UNACKNOWLEDGED.labels(severity).set(age)
