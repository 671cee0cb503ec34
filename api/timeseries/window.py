"""Time windows, opaque tie-safe cursors and pages shared by the time-series endpoints."""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Row

from fleet.db.models import utcnow
from fleet.errors import Invalid

DEFAULT_SPAN = timedelta(hours=24)
MAX_SPAN = timedelta(days=31)
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# Version 2 continues after (ts, key): rows may share a timestamp. Version 1 (ts alone) is still read.
CURSOR_VERSION = "2"
V1_CURSOR = "1"
MAX_KEY = 2**63 - 1
# Far longer than any cursor we issue; bounds the work spent decoding garbage.
MAX_CURSOR_LENGTH = 200

WINDOW_DESCRIPTION = (
    "Items are ordered by `ts` ascending, within `since` (inclusive) and `until` (exclusive). Both are RFC 3339 "
    "timestamps **with an offset** (`2026-11-23T08:00:00Z`; URL-encode a `+` as `%2B`): a timestamp without an "
    "offset is refused with 422 rather than guessed. Without either, the window is the last 24 hours; with only "
    "one, the other is 24 hours away. A window may span at most 31 days. When `next` is not null there are more "
    "items: pass it unchanged as `cursor`, with the same `since` and `until`, to get the following page. Items "
    "sharing a timestamp are ordered by `seq`, so paging never skips or repeats one."
)

ItemT = TypeVar("ItemT")
# A time-series row: (ts, key, values...).
SeriesRow = Row[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Window:
    """A validated page request: UTC bounds, page size and the exclusive (ts, key) lower bound from a cursor."""

    since: datetime
    until: datetime
    limit: int
    after: tuple[datetime, int] | None = None


class Page(BaseModel, Generic[ItemT]):
    """One page of a time series."""

    items: list[ItemT]
    next: str | None = Field(description="Cursor of the next page, or null on the last page")


def encode_cursor(ts: datetime, key: int) -> str:
    """Opaque cursor continuing after the row at (`ts`, `key`); a naive `ts` is UTC, as `api.render.utc` reads it."""
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    raw = f"{CURSOR_VERSION}:{key}:{ts.isoformat()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (ts, key) a cursor continues after; 422 when it was not issued by `encode_cursor`."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        version, _, rest = raw.decode().partition(":")
        if version == V1_CURSOR:
            # Issued before keys: it continued after every row at its timestamp.
            key, value = MAX_KEY, rest
        elif version == CURSOR_VERSION:
            key_text, _, value = rest.partition(":")
            key = int(key_text)
        else:
            raise ValueError("not a cursor")
        ts = datetime.fromisoformat(value)
        if ts.tzinfo is None or not 0 <= key <= MAX_KEY:
            raise ValueError("not a cursor")
        return ts.astimezone(UTC), key
    except (ValueError, binascii.Error, OverflowError):
        raise Invalid("invalid cursor: pass the `next` value of a previous page unchanged") from None


def resolve_window(
    since: datetime | None, until: datetime | None, limit: int, cursor: str | None, now: datetime
) -> Window:
    """Apply the defaults and limits of a time window; 422 for an empty, reversed or too long one."""
    try:
        since = since.astimezone(UTC) if since is not None else None
        until = until.astimezone(UTC) if until is not None else None
        if until is None:
            until = since + DEFAULT_SPAN if since is not None else now
        if since is None:
            since = until - DEFAULT_SPAN
    except OverflowError:
        raise Invalid("since/until out of the supported range of years 1 to 9999") from None
    if since >= until:
        raise Invalid("since must be before until")
    if until - since > MAX_SPAN:
        raise Invalid(f"the window from since to until may span at most {MAX_SPAN.days} days")
    after = decode_cursor(cursor) if cursor is not None else None
    return Window(since=since, until=until, limit=limit, after=after)


async def window_params(
    since: Annotated[AwareDatetime | None, Query(description="Start, inclusive (RFC 3339 with offset)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="End, exclusive (RFC 3339 with offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next` of the previous page")
    ] = None,
) -> Window:
    """Query parameters of a time-series endpoint, as a validated window."""
    return resolve_window(since, until, limit, cursor, utcnow())


def split_page(rows: Sequence[SeriesRow], limit: int) -> tuple[Sequence[SeriesRow], str | None]:
    """Rows of this page and the next cursor, from a query that fetched `limit + 1` rows of (ts, key, ...)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1][0], rows[-1][1])


def as_dicts(rows: Sequence[SeriesRow]) -> list[dict[str, Any]]:
    """Rows as dicts; reads the column names once, since per-row `_asdict()` dominates a 10,000-row page (and
    `strict` zips take a third longer: every row has the statement's columns)."""
    if not rows:
        return []
    keys = rows[0]._fields
    return [dict(zip(keys, row, strict=False)) for row in rows]
