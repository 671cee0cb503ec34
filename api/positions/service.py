"""Rules of the positions module."""

from sqlalchemy.orm import Session

from api.positions.schemas import PositionOut, PositionPage
from api.timeseries.archived import archived_items, merge
from api.timeseries.repository import rows_in_window
from api.timeseries.window import Window, as_dicts, encode_cursor
from api.vehicles.service import find_vehicle
from fleet.archive.layout import POSITIONS as ARCHIVED_POSITIONS
from fleet.blobs.store import BlobStore
from fleet.streams import POSITIONS


def positions(session: Session, store: BlobStore, tenant_id: int, device_id: str, window: Window) -> PositionPage:
    """A page of the positions of one of the tenant's vehicles, from the database and, past retention, the archive."""
    vehicle = find_vehicle(session, tenant_id, device_id)
    stored = as_dicts(rows_in_window(session, POSITIONS, vehicle.id, window))
    archived = archived_items(session, store, tenant_id, ARCHIVED_POSITIONS, device_id, window, POSITIONS.value_columns)
    items = merge(stored, archived, window.limit) if archived else stored
    next_cursor = None
    if len(items) > window.limit:
        items = items[: window.limit]
        next_cursor = encode_cursor(items[-1]["ts"], items[-1]["seq"])
    from_archive = {id(item) for item in archived}
    return PositionPage(
        items=[PositionOut.model_validate(item) for item in items],
        next=next_cursor,
        archived=any(id(item) in from_archive for item in items),
    )
