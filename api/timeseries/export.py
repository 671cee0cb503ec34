"""Exports: a time series window of up to 31 days streamed as NDJSON or CSV, one batch of rows at a time.

The format comes from `?format=` or else from `Accept` (`application/x-ndjson`, `text/csv`); anything else is the
JSON page. The first batch is read in the request's transaction, so an unknown vehicle, a bad window or a database
that cannot answer is still a JSON 4xx/5xx; every later batch of `BATCH_ROWS` is a query of its own, in a
transaction of its own, after the last row sent (the JSON pages' keyset), so memory stays one batch whatever the
window, the statement timeout bounds each batch rather than the export, and no transaction or lock is held while a
slow client reads. A failure after the first byte ends the response without its last chunk, which HTTP clients
report as an incomplete body; every chunk written holds whole rows. At most FLEET_API_MAX_CONCURRENT_EXPORTS run
in a process (503 past them); each also holds one of the admission limit's requests until it ends.
"""

import csv
import io
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.render import aware, dumps
from api.timeseries.window import Window
from fleet.errors import Invalid, Unavailable

Item = dict[str, Any]
Batches = Iterator[list[Item]]

# Rows per query of an export: a few hundred kilobytes of output, a few milliseconds of query on the key.
BATCH_ROWS = 5_000
# Query parameters that page the JSON answer; an export is the whole window.
PAGING_PARAMETERS = ("limit", "cursor")


class ExportFormat(StrEnum):
    """What a time-series request answers with."""

    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"


MEDIA_TYPES = {
    ExportFormat.JSON: "application/json",
    ExportFormat.NDJSON: "application/x-ndjson",
    ExportFormat.CSV: "text/csv",
}
FORMATS = {media_type: kind for kind, media_type in MEDIA_TYPES.items()}

EXPORT_DESCRIPTION = (
    " **Exports.** With `format=ndjson` or `format=csv` (or `Accept: application/x-ndjson` or `text/csv`) the "
    "answer is every item of the window (up to 31 days), streamed: NDJSON is one item per line as in `items`; CSV "
    "has a header row and the columns in the order of an item's fields, timestamps RFC 3339 in UTC, an empty cell "
    "for null and `doors_open` as a JSON array. `limit` and `cursor` page the JSON answer only. A complete export "
    "ends with a line break after its last row; an export cut by an error ends without the chunked body's last "
    "chunk (an incomplete read for the client). To resume, ask again with `since` just after the last row's `ts`."
)

FormatParam = Annotated[
    ExportFormat | None,
    Query(
        alias="format",
        description="`json` (the default: a page), or an export of the whole window as `ndjson` or `csv`; "
        "without it, `Accept` decides",
    ),
]


def negotiate(requested: ExportFormat | None, accept: str | None) -> ExportFormat:
    """The format asked for: the parameter, else the media type of ours that `Accept` rates highest, else JSON."""
    if requested is not None:
        return requested
    best, best_q = ExportFormat.JSON, 0.0
    for media_range in (accept or "").split(","):
        media_type, *params = media_range.split(";")
        kind = FORMATS.get(media_type.strip().lower())
        if kind is None:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = kind, q
    return best


def refuse_paging(query_names: Iterable[str]) -> None:
    """422 for an export given the JSON answer's paging parameters."""
    given = [name for name in PAGING_PARAMETERS if name in query_names]
    if given:
        raise Invalid(f"an export streams the whole window: {' and '.join(given)} page the JSON answer only")


def export_responses(item: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The export media types of a time-series route's 200, for its OpenAPI document."""
    return {
        200: {
            "content": {
                MEDIA_TYPES[ExportFormat.NDJSON]: {
                    "schema": {"type": "string", "description": f"One {item.__name__} object per line"}
                },
                MEDIA_TYPES[ExportFormat.CSV]: {
                    "schema": {"type": "string", "description": f"A header row, then one {item.__name__} per row"}
                },
            }
        }
    }


class ExportSlots:
    """The exports running in this process, at most `limit`: the next is 503 until one ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        # Taken in the endpoint's worker thread, given back on the event loop.
        self._lock = threading.Lock()

    def take(self) -> None:
        """One slot; `Unavailable` when all are taken."""
        with self._lock:
            if self.running >= self.limit:
                raise Unavailable(f"{self.limit} exports are running in this API process; retry later")
            self.running += 1

    def give_back(self) -> None:
        """Return a slot."""
        with self._lock:
            self.running -= 1


class ExportResponse(StreamingResponse):
    """A streamed export that gives its slot back however it ends: complete, failed or abandoned by the client."""

    def __init__(self, chunks: Iterator[bytes], media_type: str, filename: str, on_close: Callable[[], None]) -> None:
        super().__init__(
            chunks, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


def batches_after(
    first: list[Item], more: bool, window: Window, fetch: Callable[[Window], tuple[list[Item], bool]]
) -> Batches:
    """`first`, then the window's following batches of `window.limit` rows, each read by `fetch` after the last row
    sent (with `since` moved up to it, so a read of the archive starts at its day)."""
    yield first
    while more and first:
        after = (aware(first[-1]["ts"]), first[-1]["seq"])
        first, more = fetch(replace(window, since=max(window.since, after[0]), after=after))
        yield first


def export_response(
    slots: ExportSlots, kind: ExportFormat, columns: tuple[str, ...], filename: str, batches: Callable[[], Batches]
) -> ExportResponse:
    """The export of `batches()` (whose first batch is read now) as `kind`; 503 when no export slot is free."""
    slots.take()
    try:
        chunks = encode(kind, columns, batches())
    except BaseException:
        slots.give_back()
        raise
    return ExportResponse(chunks, f"{MEDIA_TYPES[kind]}; charset=utf-8", f"{filename}.{kind}", slots.give_back)


def encode(kind: ExportFormat, columns: tuple[str, ...], batches: Batches) -> Iterator[bytes]:
    """The chunks of an export: one per batch of rows, each whole lines."""
    if kind is ExportFormat.NDJSON:
        return (b"".join([dumps(item) + b"\n" for item in batch]) for batch in batches)
    if kind is ExportFormat.CSV:
        return _csv(columns, batches)
    raise ValueError(f"{kind} is not an export format")


def _csv(columns: tuple[str, ...], batches: Batches) -> Iterator[bytes]:
    yield (",".join(columns) + "\r\n").encode()
    for batch in batches:
        out = io.StringIO()
        csv.writer(out).writerows([_cell(item[name]) for name in columns] for item in batch)
        yield out.getvalue().encode()


def _cell(value: Any) -> Any:
    """A value as a CSV cell: a timestamp as in JSON, a list as its JSON text; numbers and text as they are (the
    csv module writes floats in their shortest form, as JSON does, and None as an empty cell)."""
    if isinstance(value, datetime):
        return dumps(value)[1:-1].decode()
    if isinstance(value, list):
        return dumps(value).decode()
    return value
