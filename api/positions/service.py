"""Rules of the positions module."""

from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from api.render import dumps, naive
from api.timeseries.archived import archived_items, merge
from api.timeseries.export import BATCH_ROWS, Batches, Item, batches_after
from api.timeseries.rendered import rendered_page
from api.timeseries.repository import rows_in_window
from api.timeseries.window import Window, as_dicts, encode_cursor
from fleet.archive.layout import POSITIONS as ARCHIVED_POSITIONS
from fleet.blobs.store import BlobStore
from fleet.registry.service import find_vehicle_id
from fleet.streams import POSITIONS


def positions(session: Session, store: BlobStore, tenant_id: int, device_id: str, window: Window) -> bytes:
    """A page of the positions of one of the tenant's vehicles, from the database and, past retention, the archive,
    as the JSON of a `PositionPage`: written by PostgreSQL when it can, else from the rows."""
    vehicle_id = find_vehicle_id(session, tenant_id, device_id)
    archived = _archived(session, store, tenant_id, device_id, window)
    if not archived and (page := rendered_page(session, POSITIONS, vehicle_id, window)):
        # One copy of the half megabyte a one-hour track is, not one per `+`.
        return b"".join((b'{"items":[', page.items, b'],"next":', dumps(page.next), b',"archived":false}'))
    items, more, from_archive = _page(session, vehicle_id, window, archived)
    next_cursor = encode_cursor(items[-1]["ts"], items[-1]["seq"]) if more else None
    return dumps({"items": items, "next": next_cursor, "archived": from_archive})


def export(
    session: Session, sessions: sessionmaker[Session], store: BlobStore, tenant_id: int, device_id: str, window: Window
) -> Batches:
    """Every position of the window, a batch at a time: the first read now, each later one in a session of its own."""
    vehicle_id = find_vehicle_id(session, tenant_id, device_id)
    window = replace(window, limit=BATCH_ROWS, after=None)

    def read(window: Window) -> tuple[list[Item], bool]:
        with sessions() as own, own.begin():
            items, more, _ = _page(own, vehicle_id, window, _archived(own, store, tenant_id, device_id, window))
            return items, more

    first, more, _ = _page(session, vehicle_id, window, _archived(session, store, tenant_id, device_id, window))
    return batches_after(first, more, window, read)


def _archived(session: Session, store: BlobStore, tenant_id: int, device_id: str, window: Window) -> list[Item]:
    """The archived positions of the window's page (none for a window of days never purged)."""
    return archived_items(session, store, tenant_id, ARCHIVED_POSITIONS, device_id, window, POSITIONS.value_columns)


def _page(session: Session, vehicle_id: int, window: Window, archived: list[Item]) -> tuple[list[Item], bool, bool]:
    """Up to `window.limit` positions after the cursor, with the `archived` ones merged in, whether more follow, and
    whether some came from the archive."""
    items = as_dicts(rows_in_window(session, POSITIONS, vehicle_id, window))
    from_archive: set[int] = set()
    if archived:
        for item in archived:
            item["ts"] = naive(item["ts"])
        from_archive = {id(item) for item in archived}
        items = merge(items, archived, window.limit)
    more = len(items) > window.limit
    items = items[: window.limit]
    return items, more, any(id(item) in from_archive for item in items)
