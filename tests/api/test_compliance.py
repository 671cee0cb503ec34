"""Tachograph compliance: due dates from the last verified download, exempt vehicles, tenant periods, the gauge.

The rule is tested on a fixed clock; the API on PostgreSQL and SQLite with downloads placed relative to now, each
half a day off a whole number of days, so the few milliseconds a request takes never cross a day.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from api.compliance.schemas import TachographStatus
from api.compliance.service import standing
from fleet.db.models import Vehicle, utcnow
from fleet.files.states import FileState
from fleet.files.tachograph import overdue_counts
from fleet.tenancy.roles import Role
from tests.api.conftest import Database, SeededTenant, add_file, add_token, bearer, make_app, parse, seed_tenant

pytestmark = pytest.mark.integration

HALF_DAY = timedelta(hours=12)
URL = "/v1/compliance/tachograph"


def days_ago(days: float) -> datetime:
    """Now minus `days`."""
    return utcnow() - timedelta(days=days)


# --- the rule, on a fixed clock ----------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "days_left", "status"),
    [
        (NOW - timedelta(days=10), 80, TachographStatus.OK),
        (NOW - timedelta(days=82), 8, TachographStatus.OK),
        (NOW - timedelta(days=82, hours=1), 7, TachographStatus.DUE_SOON),  # 7 days 23 hours: 7 whole days
        (NOW - timedelta(days=83), 7, TachographStatus.DUE_SOON),
        (NOW - timedelta(days=89, hours=12), 0, TachographStatus.DUE_SOON),
        (NOW - timedelta(days=90), 0, TachographStatus.DUE_SOON),  # due this very moment: not late yet
        (NOW - timedelta(days=90, seconds=1), -1, TachographStatus.OVERDUE),
        (NOW - timedelta(days=120), -30, TachographStatus.OVERDUE),
    ],
)
def test_standing_on_a_fixed_clock(last: datetime, days_left: int, status: TachographStatus) -> None:
    assert standing(last, 90, NOW) == (last + timedelta(days=90), days_left, status)


# --- the API -----------------------------------------------------------------------------------------------------


@dataclass
class Fleet:
    """A tenant with vehicles ok, due_soon, overdue, never downloaded and exempt, and three driver cards."""

    client: TestClient
    sessions: sessionmaker[Session]
    tenant: SeededTenant
    other: SeededTenant
    headers: dict[str, dict[str, str]]

    def device(self, name: str) -> str:
        """The device id of the vehicle called `name`."""
        return next(device for device in self.tenant.device_ids if device.endswith(f"-{name}"))

    def compliance(self, role: str = "viewer", **params: str) -> Any:
        """The compliance answer, asserting 200."""
        response = self.client.get(URL, headers=self.headers[role], params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def download(self, vehicle: str, file_id: str, kind: str, at: datetime, **fields: Any) -> None:
        """A tachograph file of the vehicle called `vehicle`, offered at `at`."""
        add_file(self.sessions, self.tenant, self.device(vehicle), file_id, kind=kind, offered_at=at, **fields)


@pytest.fixture
def fleet(database: Database, unique: str) -> Iterator[Fleet]:
    names = ["ok", "soon", "late", "never", "exempt"]
    sessions = database.sessions
    tenant = seed_tenant(sessions, f"tacho-{unique}", [f"t-{unique}-{name}" for name in names])
    other = seed_tenant(sessions, f"tacho-other-{unique}", [f"o-{unique}-1"])
    headers = {role.value: bearer(add_token(sessions, tenant.id, role, role.value)[1]) for role in Role}
    with sessions() as session:
        exempt = tenant.vehicle_ids[f"t-{unique}-exempt"]
        session.execute(update(Vehicle).where(Vehicle.id == exempt).values(tachograph_required=False))
        session.commit()
    with TestClient(make_app(database.url)) as client:
        fleet = Fleet(client, sessions, tenant, other, headers)
        vu, card = "tachograph_vu", "tachograph_card"
        # ended_at (the end of the data) counts, not the later offer; what is not verified, or not a VU file, not.
        fleet.download("ok", "vu-ok", vu, days_ago(5), ended_at=days_ago(10) + HALF_DAY)
        fleet.download("ok", "vu-ok-pending", vu, days_ago(1), state=FileState.UPLOADED)
        fleet.download("ok", "clip", "video", days_ago(100))
        fleet.download("soon", "vu-soon", vu, days_ago(85) + HALF_DAY)
        fleet.download("soon", "vu-soon-old", vu, days_ago(200))
        fleet.download("late", "vu-late", vu, days_ago(100) + HALF_DAY)
        fleet.download("late", "vu-late-rejected", vu, days_ago(1), state=FileState.REJECTED)
        fleet.download("exempt", "vu-exempt", vu, days_ago(300))
        fleet.download("ok", "card-a", card, days_ago(5) + HALF_DAY, driver_card_id="CARDA")
        fleet.download("soon", "card-a-old", card, days_ago(20), driver_card_id="CARDA")
        fleet.download("late", "card-b", card, days_ago(22) + HALF_DAY, driver_card_id="CARDB")
        fleet.download("soon", "card-c", card, days_ago(40) + HALF_DAY, driver_card_id="CARDC")
        fleet.download("soon", "card-c-failed", card, days_ago(1), driver_card_id="CARDC", state=FileState.FAILED)
        add_file(sessions, other, other.device_ids[0], "their-card", kind=card, driver_card_id="CARDZ")
        yield fleet


def summary(items: list[dict[str, Any]], key: str) -> list[tuple[str, int, str]]:
    return [(item[key], item["days_left"], item["status"]) for item in items]


def test_vehicle_units_and_driver_cards_with_their_due_dates(fleet: Fleet) -> None:
    body = fleet.compliance()

    assert body["periods"] == {"vehicle_unit_days": 90, "driver_card_days": 28}
    units = {item["device_id"]: item for item in body["vehicle_units"]}
    assert summary(body["vehicle_units"], "device_id") == [  # the exempt vehicle is left out
        (fleet.device("late"), -10, "overdue"),
        (fleet.device("never"), 89, "never"),
        (fleet.device("ok"), 80, "ok"),
        (fleet.device("soon"), 5, "due_soon"),
    ]
    ok = units[fleet.device("ok")]
    assert parse(ok["due_at"]) == parse(ok["last_download_at"]) + timedelta(days=90)
    assert abs(parse(ok["last_download_at"]) - (days_ago(10) + HALF_DAY)) < timedelta(minutes=1)
    assert units[fleet.device("never")]["last_download_at"] is None
    assert summary(body["driver_cards"], "driver_card_id") == [
        ("CARDA", 23, "ok"),
        ("CARDB", 6, "due_soon"),
        ("CARDC", -12, "overdue"),
    ]
    cards = {item["driver_card_id"]: item for item in body["driver_cards"]}
    assert cards["CARDA"]["device_id"] == fleet.device("ok")  # the vehicle of the newest download
    assert cards["CARDC"]["device_id"] == fleet.device("soon")
    assert parse(cards["CARDB"]["due_at"]) == parse(cards["CARDB"]["last_download_at"]) + timedelta(days=28)


def test_a_status_selects_both_lists(fleet: Fleet) -> None:
    overdue = fleet.compliance(status="overdue")
    never = fleet.compliance(status="never")

    assert [item["device_id"] for item in overdue["vehicle_units"]] == [fleet.device("late")]
    assert [item["driver_card_id"] for item in overdue["driver_cards"]] == ["CARDC"]
    assert ([item["device_id"] for item in never["vehicle_units"]], never["driver_cards"]) == (
        [fleet.device("never")],
        [],
    )
    response = fleet.client.get(URL, headers=fleet.headers["viewer"], params={"status": "late"})
    assert response.status_code == 422


def test_a_tenants_own_periods_apply_and_are_audited(fleet: Fleet) -> None:
    url = URL + "/periods"

    admin, defaults = fleet.headers["admin"], {"vehicle_unit_days": None, "driver_card_days": None}

    changed = fleet.client.put(url, headers=admin, json={"vehicle_unit_days": 120, "driver_card_days": 21})
    body = fleet.compliance()
    theirs = fleet.client.get(URL, headers=fleet.other.headers).json()
    reset = fleet.client.put(url, headers=admin, json=defaults)
    again = fleet.client.put(url, headers=admin, json=defaults)

    assert changed.status_code == reset.status_code == again.status_code == 200
    assert changed.json() == body["periods"] == {"vehicle_unit_days": 120, "driver_card_days": 21}
    assert theirs["periods"] == {"vehicle_unit_days": 90, "driver_card_days": 28}
    assert reset.json() == fleet.compliance()["periods"] == {"vehicle_unit_days": 90, "driver_card_days": 28}
    late = next(item for item in body["vehicle_units"] if item["device_id"] == fleet.device("late"))
    assert (late["days_left"], late["status"]) == (20, "ok")
    assert summary(body["driver_cards"], "driver_card_id") == [
        ("CARDA", 16, "ok"),
        ("CARDB", -1, "overdue"),
        ("CARDC", -19, "overdue"),
    ]
    params = {"action": "tenant.tachograph_periods"}
    entries = fleet.client.get("/v1/audit", headers=fleet.headers["admin"], params=params).json()["items"]
    assert [(e["actor"], e["target"]) for e in entries] == [("admin", fleet.tenant.name)] * 2  # not the repeat
    assert [e["detail"] for e in entries] == [
        {"vehicle_unit_days": {"from": 120, "to": None}, "driver_card_days": {"from": 21, "to": None}},
        {"vehicle_unit_days": {"from": None, "to": 120}, "driver_card_days": {"from": None, "to": 21}},
    ]


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        ("viewer", {"vehicle_unit_days": 60, "driver_card_days": 14}, 403),
        ("operator", {"vehicle_unit_days": 60, "driver_card_days": 14}, 403),
        ("admin", {"vehicle_unit_days": 0, "driver_card_days": 14}, 422),
        ("admin", {"vehicle_unit_days": 60, "driver_card_days": 367}, 422),
        ("admin", {"vehicle_unit_days": 60}, 422),
        ("admin", {"vehicle_unit_days": 60, "driver_card_days": 14, "region": "DE"}, 422),
    ],
)
def test_periods_need_the_admin_role_and_1_to_366_days(
    fleet: Fleet, role: str, body: dict[str, Any], status: int
) -> None:
    response = fleet.client.put(URL + "/periods", headers=fleet.headers[role], json=body)

    assert response.status_code == status
    assert fleet.compliance()["periods"] == {"vehicle_unit_days": 90, "driver_card_days": 28}


def test_an_exempt_vehicle_is_set_by_patching_it(fleet: Fleet) -> None:
    device = fleet.device("never")
    url = f"/v1/admin/vehicles/{device}"

    exempted = fleet.client.patch(url, headers=fleet.headers["admin"], json={"tachograph_required": False})
    refused = fleet.client.patch(url, headers=fleet.headers["admin"], json={"tachograph_required": None})
    listed = fleet.client.get("/v1/vehicles", headers=fleet.headers["viewer"]).json()["items"]

    assert exempted.status_code == 200 and exempted.json()["tachograph_required"] is False
    assert refused.status_code == 422
    assert {v["device_id"]: v["tachograph_required"] for v in listed}[device] is False
    assert device not in [item["device_id"] for item in fleet.compliance()["vehicle_units"]]
    entries = fleet.client.get("/v1/audit", headers=fleet.headers["admin"], params={"action": "vehicle.update"})
    assert entries.json()["items"][0]["detail"] == {"tachograph_required": {"from": True, "to": False}}
    required = fleet.client.patch(url, headers=fleet.headers["admin"], json={"tachograph_required": True})
    assert required.json()["tachograph_required"] is True
    assert device in [item["device_id"] for item in fleet.compliance()["vehicle_units"]]


# --- the fleet-wide counts (the worker's gauge) ----------------------------------------------------------------


def overdue(database: Database) -> dict[str, int]:
    """What the worker's fleet_tachograph_overdue gauge is set from, with the EU's default periods."""
    with database.sessions() as session:
        return overdue_counts(session.connection(), 90, 28, utcnow())


def test_the_overdue_counts_count_every_tenant_by_its_own_periods(database: Database, unique: str) -> None:
    sessions = database.sessions
    with TestClient(make_app(database.url)) as client:
        before = overdue(database)
        eu = seed_tenant(
            sessions, f"gauge-eu-{unique}", [f"g-{unique}-{name}" for name in ("late", "new", "old", "ok")]
        )
        short = seed_tenant(sessions, f"gauge-short-{unique}", [f"s-{unique}-1"])
        with sessions() as session:
            # Never downloaded: "new" is not overdue yet, "old" was registered over 90 days ago.
            old = eu.vehicle_ids[f"g-{unique}-old"]
            session.execute(update(Vehicle).where(Vehicle.id == old).values(created_at=days_ago(91)))
            session.commit()
        vu, card = "tachograph_vu", "tachograph_card"
        add_file(sessions, eu, f"g-{unique}-late", "vu", kind=vu, offered_at=days_ago(91))
        add_file(sessions, eu, f"g-{unique}-ok", "vu", kind=vu, offered_at=days_ago(40))
        add_file(sessions, eu, f"g-{unique}-ok", "card-late", kind=card, offered_at=days_ago(29), driver_card_id="C1")
        add_file(sessions, eu, f"g-{unique}-ok", "card-ok", kind=card, offered_at=days_ago(20), driver_card_id="C2")
        # The same ages under a tenant's own periods (30 and 60 days): its vehicle unit late, its card not.
        add_file(sessions, short, f"s-{unique}-1", "vu", kind=vu, offered_at=days_ago(40))
        add_file(sessions, short, f"s-{unique}-1", "card", kind=card, offered_at=days_ago(40), driver_card_id="C3")
        headers = bearer(short.token)
        body = {"vehicle_unit_days": 30, "driver_card_days": 60}
        assert client.put(URL + "/periods", headers=headers, json=body).status_code == 200
        after = overdue(database)

    assert after["vehicle_unit"] - before.get("vehicle_unit", 0) == 3
    assert after["driver_card"] - before.get("driver_card", 0) == 1
