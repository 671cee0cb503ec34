"""The files of vehicles being deleted: refused while one is on legal hold, else their objects deleted first.

A file row goes with its vehicle (the foreign key cascades), so nothing would find its object afterwards: the
objects (and any multipart upload under way) are deleted here, before the rows, as the lifecycle job does. A store
that fails raises `Unavailable` and the caller's transaction rolls back; deleting again finishes the job (deleting
a missing object is no error).
"""

from collections import Counter
from collections.abc import Mapping

from sqlalchemy.orm import Session

from fleet.blobs.store import BlobStore
from fleet.errors import Conflict
from fleet.files import repository


def delete_objects_of_vehicles(session: Session, store: BlobStore, devices: Mapping[int, str]) -> dict[int, int]:
    """Delete the stored objects of the files of these vehicles (vehicle id -> device id); files per vehicle.

    Conflict, before anything is deleted, when any of their files is on legal hold.
    """
    files = repository.files_of_vehicles(session, list(devices))
    held = Counter(file.vehicle_id for file in files if file.legal_hold)
    if held:
        raise Conflict(held_message({devices[vehicle_id]: count for vehicle_id, count in held.items()}))
    for file in files:
        if file.upload_id:
            store.abort_multipart(file.object_key, file.upload_id)
        store.delete(file.object_key)
    return dict(Counter(file.vehicle_id for file in files))


def held_message(held: Mapping[str, int]) -> str:
    """Why a delete is refused: how many files of which vehicles are held, and what to do."""
    total = sum(held.values())
    which = ", ".join(f"{device_id!r} ({_files(count)})" for device_id, count in sorted(held.items()))
    vehicles = "vehicle" if len(held) == 1 else "vehicles"
    verb = "is" if total == 1 else "are"
    return f"{_files(total)} {verb} on legal hold ({vehicles} {which}): release the holds first; nothing was deleted"


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"
