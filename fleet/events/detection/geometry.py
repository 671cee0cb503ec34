"""Point in polygon on longitude/latitude, for geofences a few kilometres across (planar is exact enough)."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fence:
    """A tenant's geofence, ready for tests of many points."""

    id: int
    name: str
    kind: str
    severity: str
    ring: tuple[tuple[float, float], ...]
    box: tuple[float, float, float, float]

    @classmethod
    def of(cls, id: int, name: str, kind: str, severity: str, polygon: Sequence[Sequence[float]]) -> "Fence":
        """A fence of the polygon's outer ring ([lon, lat] pairs)."""
        ring = tuple((float(p[0]), float(p[1])) for p in polygon)
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        return cls(id, name, kind, severity, ring, (min(lons), min(lats), max(lons), max(lats)))

    def contains(self, lon: float, lat: float) -> bool:
        """Whether (lon, lat) lies inside the ring (even-odd rule; the boundary counts as either)."""
        west, south, east, north = self.box
        if not (west <= lon <= east and south <= lat <= north):
            return False
        inside = False
        ring = self.ring
        x2, y2 = ring[-1]
        for x1, y1 in ring:
            if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
                inside = not inside
            x2, y2 = x1, y1
        return inside
