"""Bus routes: loading the bundled polylines, and positions and headings along them by distance."""

import bisect
import itertools
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Mean Earth radius (IUGG); haversine with a sphere is within 0.5 % at city scale, plenty for a simulator.
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS 84 position in degrees."""

    lat: float
    lon: float


def haversine_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance between two points, in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: GeoPoint, b: GeoPoint) -> float:
    """Initial bearing from `a` towards `b`, clockwise from north, in [0, 360)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlon = math.radians(b.lon - a.lon)
    y = math.sin(dlon) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return normalize_heading(math.degrees(math.atan2(y, x)))


def normalize_heading(degrees: float) -> float:
    """Fold an angle into [0, 360); float modulo can return exactly 360.0 for tiny negative inputs."""
    folded = degrees % 360.0
    return 0.0 if folded >= 360.0 else folded


@dataclass(frozen=True, slots=True)
class Stop:
    """A named stop, as a distance from the start of its route."""

    name: str
    distance_m: float


@dataclass(frozen=True, slots=True)
class Route:
    """A polyline with stops; a loop closes from its last point back to its first, otherwise buses reverse."""

    route_id: str
    name: str
    loop: bool
    alt_m: float
    vertices: tuple[GeoPoint, ...]
    offsets_m: tuple[float, ...]
    stops: tuple[Stop, ...]

    @property
    def length_m(self) -> float:
        """Length of one run (of one lap for a loop)."""
        return self.offsets_m[-1]

    def clamp(self, distance_m: float) -> float:
        """A distance folded onto the route: wrapped for a loop, clamped to the ends otherwise."""
        if self.loop:
            return distance_m % self.length_m
        return min(max(distance_m, 0.0), self.length_m)

    def point_at(self, distance_m: float) -> GeoPoint:
        """Position `distance_m` from the start, interpolated linearly within a segment."""
        distance = self.clamp(distance_m)
        index = self._segment(distance, forward=True)
        a, b = self.vertices[index], self.vertices[index + 1]
        start, end = self.offsets_m[index], self.offsets_m[index + 1]
        fraction = (distance - start) / (end - start)
        return GeoPoint(a.lat + (b.lat - a.lat) * fraction, a.lon + (b.lon - a.lon) * fraction)

    def heading_at(self, distance_m: float, forward: bool = True) -> float:
        """Heading of a bus at `distance_m` travelling forward (or backward) along the route."""
        index = self._segment(self.clamp(distance_m), forward)
        a, b = self.vertices[index], self.vertices[index + 1]
        return bearing_deg(a, b) if forward else bearing_deg(b, a)

    def _segment(self, distance: float, forward: bool) -> int:
        # On a vertex, a bus going forward is on the segment after it, one going backward on the one before.
        if forward:
            index = bisect.bisect_right(self.offsets_m, distance) - 1
        else:
            index = bisect.bisect_left(self.offsets_m, distance) - 1
        return min(max(index, 0), len(self.vertices) - 2)


def make_route(
    route_id: str, name: str, points: list[GeoPoint], stops: list[tuple[str, int]], loop: bool, alt_m: float
) -> Route:
    """Build a route from its points and its stops given as point indexes."""
    vertices = (*points, points[0]) if loop else tuple(points)
    offsets = [0.0]
    for a, b in itertools.pairwise(vertices):
        offsets.append(offsets[-1] + haversine_m(a, b))
    route_stops = tuple(sorted((Stop(n, offsets[i]) for n, i in stops), key=lambda s: s.distance_m))
    return Route(route_id, name, loop, alt_m, vertices, tuple(offsets), route_stops)


class _StopFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    point: int = Field(ge=0)


class _RouteFile(BaseModel):
    """Shape of a route JSON file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    name: str
    loop: bool
    alt_m: float = 0.0
    points: list[tuple[float, float]] = Field(min_length=3)
    stops: list[_StopFile] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self) -> "_RouteFile":
        for stop in self.stops:
            if stop.point >= len(self.points):
                raise ValueError(f"stop {stop.name!r} refers to point {stop.point}, past the last point")
        closing = [(self.points[-1], self.points[0])] if self.loop else []
        for a, b in [*itertools.pairwise(self.points), *closing]:
            if a == b:
                raise ValueError(f"repeated point {a}: every segment needs a length")
        for lat, lon in self.points:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"point ({lat}, {lon}) is not a WGS 84 position")
        return self


def parse_route(text: str) -> Route:
    """Route from the JSON text of a route file."""
    data = _RouteFile.model_validate(json.loads(text))
    return make_route(
        data.id,
        data.name,
        [GeoPoint(lat, lon) for lat, lon in data.points],
        [(s.name, s.point) for s in data.stops],
        data.loop,
        data.alt_m,
    )


def load_route(path: Path | Traversable) -> Route:
    """Route from a route JSON file."""
    return parse_route(path.read_text(encoding="utf-8"))


@cache
def bundled_routes() -> tuple[Route, ...]:
    """The routes shipped in `vehicle_sim/routes/`, ordered by file name."""
    folder = resources.files("vehicle_sim") / "routes"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return tuple(load_route(f) for f in files)
