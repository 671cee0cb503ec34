"""Queries of the positions module."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from api.timeseries import Window
from fleet.db.models import Position

COLUMNS = (
    Position.ts,
    Position.seq,
    Position.lat,
    Position.lon,
    Position.speed_kmh,
    Position.heading_deg,
    Position.alt_m,
    Position.sats,
    Position.hdop,
)


def positions(session: Session, vehicle_id: int, window: Window) -> Sequence[Row[*tuple[Any, ...]]]:
    """Up to `window.limit + 1` positions in the window, by ts ascending (served by the (vehicle_id, ts) key)."""
    stmt = select(*COLUMNS).where(
        Position.vehicle_id == vehicle_id, Position.ts >= window.since, Position.ts < window.until
    )
    if window.after is not None:
        stmt = stmt.where(Position.ts > window.after)
    return session.execute(stmt.order_by(Position.ts).limit(window.limit + 1)).all()
