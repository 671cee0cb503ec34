"""Rules of the positions module."""

from sqlalchemy.orm import Session

from api.positions.schemas import PositionOut, PositionPage
from api.timeseries.repository import rows_in_window
from api.timeseries.window import Window, as_dicts, split_page
from api.vehicles.service import find_vehicle
from fleet.streams import POSITIONS


def positions(session: Session, tenant_id: int, device_id: str, window: Window) -> PositionPage:
    """A page of the positions of one of the tenant's vehicles."""
    vehicle = find_vehicle(session, tenant_id, device_id)
    rows, next_cursor = split_page(rows_in_window(session, POSITIONS, vehicle.id, window), window.limit)
    return PositionPage(items=[PositionOut.model_validate(r) for r in as_dicts(rows)], next=next_cursor)
