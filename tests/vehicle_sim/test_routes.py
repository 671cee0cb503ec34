"""Bundled routes and geometry along them."""

import json

import pytest

from vehicle_sim.routes import GeoPoint, bearing_deg, bundled_routes, haversine_m, parse_route


def test_haversine_one_degree_of_latitude_is_about_111_km() -> None:
    assert haversine_m(GeoPoint(48.0, 16.0), GeoPoint(49.0, 16.0)) == pytest.approx(111_195, rel=1e-3)


def test_bearing_points_the_compass_way() -> None:
    origin = GeoPoint(48.2, 16.37)
    assert bearing_deg(origin, GeoPoint(48.3, 16.37)) == pytest.approx(0.0, abs=1e-6)
    assert bearing_deg(origin, GeoPoint(48.2, 16.47)) == pytest.approx(90.0, abs=0.1)
    assert bearing_deg(origin, GeoPoint(48.1, 16.37)) == pytest.approx(180.0, abs=1e-6)
    assert bearing_deg(origin, GeoPoint(48.2, 16.27)) == pytest.approx(270.0, abs=0.1)


def test_three_bundled_city_routes_of_several_km_with_stops() -> None:
    routes = bundled_routes()
    assert len(routes) == 3
    assert len({r.route_id for r in routes}) == 3
    for route in routes:
        assert 15 <= len(route.vertices) <= 41
        assert 3_000 < route.length_m < 10_000
        assert len(route.stops) >= 5
        assert all(0 <= s.distance_m <= route.length_m for s in route.stops)
    assert any(r.loop for r in routes) and any(not r.loop for r in routes)


def test_point_at_interpolates_by_distance() -> None:
    route = bundled_routes()[0]
    assert route.point_at(0.0) == route.vertices[0]
    assert route.point_at(route.length_m) == route.vertices[-1]
    middle = route.offsets_m[1] / 2
    point = route.point_at(middle)
    assert haversine_m(route.vertices[0], point) == pytest.approx(middle, rel=1e-3)


def test_loop_wraps_and_line_clamps() -> None:
    loop = next(r for r in bundled_routes() if r.loop)
    line = next(r for r in bundled_routes() if not r.loop)
    assert loop.clamp(loop.length_m + 10.0) == pytest.approx(10.0)
    assert line.clamp(line.length_m + 10.0) == line.length_m
    assert line.clamp(-5.0) == 0.0


def test_heading_reverses_with_direction() -> None:
    route = bundled_routes()[0]
    middle = route.offsets_m[1] / 2
    forward, backward = route.heading_at(middle, True), route.heading_at(middle, False)
    assert (backward - forward) % 360 == pytest.approx(180.0, abs=0.1)


def test_route_file_with_a_stop_past_the_last_point_is_refused() -> None:
    text = json.dumps(
        {
            "id": "x",
            "name": "x",
            "loop": False,
            "points": [[48.0, 16.0], [48.01, 16.0], [48.02, 16.0]],
            "stops": [{"name": "a", "point": 0}, {"name": "b", "point": 3}],
        }
    )
    with pytest.raises(ValueError, match="past the last point"):
        parse_route(text)
