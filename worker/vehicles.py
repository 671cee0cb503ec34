"""The fleet-wide vehicle gauge, fleet_vehicles{state}: reporting, silent or offline, from each latest state.

Counted here with the worker's other gauges, not by every API replica at each scrape.
"""

from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from fleet.db.models import VehicleState
from worker import metrics


def refresh_gauge(session: Session, now: datetime, silent_after: timedelta) -> None:
    """Set fleet_vehicles: offline (announced), reporting (data within `silent_after`), silent (neither)."""
    since = now - silent_after
    state = case(
        (VehicleState.online.is_(False), "offline"),
        (or_(VehicleState.pos_ts >= since, VehicleState.can_ts >= since), "reporting"),
        else_="silent",
    )
    rows = session.execute(select(state, func.count()).group_by(state))
    counts: dict[str, int] = {name: count for name, count in rows}
    for name in metrics.VEHICLE_STATES:
        metrics.VEHICLES.labels(name).set(counts.get(name, 0))
