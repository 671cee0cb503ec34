"""Response bodies of the positions module."""

from datetime import datetime

from pydantic import BaseModel

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


PositionPage = Page[PositionOut]
