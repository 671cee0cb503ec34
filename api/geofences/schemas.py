"""Request and response bodies of the geofences module."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleet.contract.events import Severity

Kind = Literal["depot", "no_go", "zone"]
# What entering one is, unless the geofence says otherwise: only a no-go zone is an alarm.
DEFAULT_SEVERITY: dict[str, Severity] = {"depot": "info", "zone": "info", "no_go": "warning"}
Longitude = Annotated[float, Field(ge=-180, le=180)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Point = tuple[Longitude, Latitude]
MIN_POINTS, MAX_POINTS = 3, 1000
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class GeofenceIn(BaseModel):
    """A new geofence: a name, what it is, its outer ring, and the severity of being inside it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN, description="Unique among yours")
    kind: Kind
    polygon: list[Point] = Field(
        min_length=MIN_POINTS,
        max_length=MAX_POINTS + 1,
        description=f"The outer ring as [[lon, lat], ...] (GeoJSON order), {MIN_POINTS}-{MAX_POINTS} points, closed "
        "(the first point repeated last) or not",
    )
    severity: Severity | None = Field(
        default=None, description="Of the events inside it; default warning for `no_go`, else info"
    )

    @model_validator(mode="after")
    def _check_ring(self) -> "GeofenceIn":
        ring = self.polygon[:-1] if len(self.polygon) > 1 and self.polygon[0] == self.polygon[-1] else self.polygon
        if not MIN_POINTS <= len(ring) <= MAX_POINTS:
            raise ValueError(f"polygon: {MIN_POINTS}-{MAX_POINTS} points, not counting a closing repeat of the first")
        if len(set(ring)) < MIN_POINTS or _area(ring) == 0:
            raise ValueError("polygon: encloses no area (its points repeat or lie on one line)")
        return self

    def resolved_severity(self) -> Severity:
        """The severity given, or the kind's default."""
        return self.severity or DEFAULT_SEVERITY[self.kind]


def _area(ring: list[tuple[float, float]]) -> float:
    """Twice the signed area of the ring (shoelace), in square degrees."""
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True))


class GeofenceOut(BaseModel):
    """One of your geofences."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    polygon: list[list[float]] = Field(description="[[lon, lat], ...] as given")
    severity: Severity
    created_at: datetime


class GeofenceList(BaseModel):
    """Your geofences, by name."""

    items: list[GeofenceOut]
