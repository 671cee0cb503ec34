"""Events over HTTP: the list (filters, paging newest first), one event, a vehicle's, counts; tenants kept apart."""

from datetime import datetime, timedelta

import pytest

from tests.api.conftest import BASE_TS, iso
from tests.events_api.conftest import Env, store_event

pytestmark = pytest.mark.integration

SHAPE = {
    *("id", "device_id", "source", "type", "severity", "started_at", "ended_at", "lat", "lon", "speed_kmh"),
    *("event_id", "data"),
}


def at(minutes: int) -> datetime:
    """BASE_TS and `minutes`."""
    return BASE_TS + timedelta(minutes=minutes)


def seed(env: Env) -> dict[str, int]:
    """Five events of the tenant, a minute apart, and one of the other tenant; ids by name."""
    first, second = env.devices
    ids = {
        "panic": env.event(first, event_type="panic_button", severity="critical", started_at=at(0))[0],
        "harsh": env.event(first, event_type="harsh_braking", severity="info", data={"g": 0.5}, started_at=at(1))[0],
        "overspeed": env.event(
            second, event_type="overspeed", severity="warning", source="detector",
            data={"limit_kmh": 80, "peak_speed_kmh": 95}, started_at=at(2),
        )[0],
        "newer": env.event(second, event_type="x_vendor_thing", severity="info", started_at=at(3))[0],
        "fatigue": env.event(
            first, event_type="fatigue", severity="critical", started_at=at(4),
            unit_event_id="e-17", lat=48.1, lon=11.5, speed_kmh=42.0,
        )[0],
    }  # fmt: skip
    ids["foreign"] = store_event(env.sessions, env.other, env.other.device_ids[0], started_at=BASE_TS)[0]
    return ids


def names(ids: dict[str, int], body: dict[str, object]) -> list[str]:
    """The names of the listed events, in order."""
    by_id = {v: k for k, v in ids.items()}
    return [by_id[item["id"]] for item in body["items"]]  # type: ignore[attr-defined]


def test_events_are_listed_newest_first_in_the_shape_of_the_feed(env: Env) -> None:
    ids = seed(env)

    body = env.get("/v1/events").json()

    assert names(ids, body) == ["fatigue", "newer", "overspeed", "harsh", "panic"]
    assert body["next"] is None
    fatigue = body["items"][0]
    assert set(fatigue) == SHAPE
    assert (fatigue["device_id"], fatigue["source"], fatigue["severity"], fatigue["event_id"]) == (
        env.devices[0], "unit", "critical", "e-17",
    )  # fmt: skip
    assert (fatigue["lat"], fatigue["lon"], fatigue["speed_kmh"], fatigue["ended_at"]) == (48.1, 11.5, 42.0, None)
    assert env.get(f"/v1/events/{ids['fatigue']}").json() == fatigue


def test_pages_continue_without_repeats_or_gaps(env: Env) -> None:
    ids = seed(env)
    # Two more at the same instant: the cursor breaks the tie by id.
    ids["tie1"] = env.event(started_at=BASE_TS + timedelta(minutes=2))[0]
    ids["tie2"] = env.event(started_at=BASE_TS + timedelta(minutes=2))[0]
    seen: list[str] = []
    cursor = None
    while True:
        body = env.get("/v1/events", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += names(ids, body)
        if (cursor := body["next"]) is None:
            break

    assert seen == ["fatigue", "newer", "tie2", "tie1", "overspeed", "harsh", "panic"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "fatigue"}, ["fatigue"]),
        ({"type": ["fatigue", "panic_button"]}, ["fatigue", "panic"]),
        ({"type": "fatigue, panic_button,harsh_braking"}, ["fatigue", "harsh", "panic"]),
        ({"source": "detector"}, ["overspeed"]),
        ({"source": "unit", "severity": "warning"}, ["fatigue", "panic"]),
        ({"severity": "warning"}, ["fatigue", "overspeed", "panic"]),
        ({"severity": "critical"}, ["fatigue", "panic"]),
        ({"since": iso(BASE_TS + timedelta(minutes=1)), "until": iso(BASE_TS + timedelta(minutes=3))},
         ["overspeed", "harsh"]),
        ({"since": iso(BASE_TS + timedelta(minutes=3))}, ["fatigue", "newer"]),
    ],
)  # fmt: skip
def test_filters(env: Env, params: dict[str, object], expected: list[str]) -> None:
    ids = seed(env)

    assert names(ids, env.get("/v1/events", **params).json()) == expected


def test_one_vehicles_events_by_query_or_path(env: Env) -> None:
    ids = seed(env)

    by_query = env.get("/v1/events", device_id=env.devices[1]).json()
    by_path = env.get(f"/v1/vehicles/{env.devices[1]}/events").json()
    critical = env.get(f"/v1/vehicles/{env.devices[0]}/events", severity="critical").json()

    assert names(ids, by_query) == names(ids, by_path) == ["newer", "overspeed"]
    assert names(ids, critical) == ["fatigue", "panic"]


def test_another_tenants_events_are_never_seen(env: Env) -> None:
    ids = seed(env)
    foreign_device = env.other.device_ids[0]

    assert "foreign" not in names(ids, env.get("/v1/events").json())
    assert env.get(f"/v1/events/{ids['foreign']}").status_code == 404
    assert env.get("/v1/events", device_id=foreign_device).status_code == 404
    assert env.get(f"/v1/vehicles/{foreign_device}/events").status_code == 404
    assert env.get("/v1/events/counts", device_id=foreign_device).status_code == 404
    assert env.get("/v1/events/0").status_code == 404
    assert env.get(f"/v1/events/{2**64}").status_code == 404


def test_counts_per_type_and_severity(env: Env) -> None:
    seed(env)

    everything = env.get("/v1/events/counts").json()
    unit_warnings = env.get("/v1/events/counts", source="unit", severity="warning").json()
    none = env.get("/v1/events/counts", type="crash").json()

    assert everything == {
        "total": 5,
        "by_type": {"fatigue": 1, "harsh_braking": 1, "overspeed": 1, "panic_button": 1, "x_vendor_thing": 1},
        "by_severity": {"info": 2, "warning": 1, "critical": 2},
    }
    assert unit_warnings["by_type"] == {"fatigue": 1, "panic_button": 1}
    assert none == {"total": 0, "by_type": {}, "by_severity": {"info": 0, "warning": 0, "critical": 0}}


@pytest.mark.parametrize(
    "params",
    [
        {"type": "Not A Type"},
        {"type": ",".join(f"t{i}" for i in range(51))},
        {"severity": "severe"},
        {"source": "ecu"},
        {"since": "2026-03-01T00:00:00"},  # no offset
        {"since": "0.5"},
        {"since": iso(BASE_TS), "until": iso(BASE_TS)},
        {"cursor": "not-a-cursor"},
        {"limit": "0"},
        {"limit": "501"},
        {"vehicle": "bus-1"},  # unknown parameter
    ],
)
def test_bad_parameters_are_422(env: Env, params: dict[str, str]) -> None:
    for path in ("/v1/events", "/v1/events/counts", f"/v1/vehicles/{env.devices[0]}/events"):
        if path.endswith("counts") and ({"cursor", "limit"} & set(params)):
            continue
        response = env.get(path, **params)

        assert response.status_code == 422, (path, response.text)
