"""Rules of the CAN module."""

from sqlalchemy.orm import Session

from api.can.schemas import CanPage, CanSampleOut
from api.timeseries.repository import rows_in_window
from api.timeseries.window import Window, split_page
from api.vehicles.service import find_vehicle
from fleet.streams import CAN_SAMPLES


def can_samples(session: Session, tenant_id: int, device_id: str, window: Window) -> CanPage:
    """A page of the CAN samples of one of the tenant's vehicles."""
    vehicle = find_vehicle(session, tenant_id, device_id)
    rows, next_cursor = split_page(rows_in_window(session, CAN_SAMPLES, vehicle.id, window), window.limit)
    return CanPage(items=[CanSampleOut.from_row(r) for r in rows], next=next_cursor)
