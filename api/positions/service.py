"""Rules of the positions module."""

from sqlalchemy.orm import Session

from api.positions import repository
from api.positions.schemas import PositionOut, PositionPage
from api.timeseries import Window, as_dicts, split_page
from api.vehicles.service import find_vehicle


def positions(session: Session, tenant_id: int, device_id: str, window: Window) -> PositionPage:
    """A page of the positions of one of the tenant's vehicles."""
    vehicle = find_vehicle(session, tenant_id, device_id)
    rows, next_cursor = split_page(repository.positions(session, vehicle.id, window), window.limit)
    return PositionPage(items=[PositionOut.model_validate(r) for r in as_dicts(rows)], next=next_cursor)
