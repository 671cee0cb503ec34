"""Response bodies of the positions module."""

from datetime import datetime

from pydantic import BaseModel, Field

from api.timeseries.window import Page


class PositionOut(BaseModel):
    """A GNSS fix."""

    ts: datetime
    seq: int
    lat: float
    lon: float
    speed_kmh: float | None
    heading_deg: float | None
    alt_m: float | None
    sats: int | None
    hdop: float | None


class PositionPage(Page[PositionOut]):
    """A page of positions; past retention some come from the archive."""

    archived: bool = Field(
        default=False,
        description="True when some items of this page were read from the archive (Parquet in object storage): "
        "the days retention removed from the database",
    )
