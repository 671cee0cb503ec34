"""`fleet vehicle add --group`: devices registered in groups of their tenant, which a later `--group` replaces."""

from collections.abc import Callable

import pytest
from sqlalchemy import select

from cli.main import main
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import AuditEntry, Vehicle

Fleet = Callable[..., str]


@pytest.fixture
def fleet(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Fleet:
    """Run `fleet ARGS...` on a fresh SQLite database with no broker to manage; its standard output."""
    monkeypatch.setenv("FLEET_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("FLEET_BROKER_ADMIN_URL", raising=False)

    def run(*args: str) -> str:
        capfd.readouterr()
        main(list(args))
        return capfd.readouterr().out

    return run


def stored(sqlite_url: str) -> tuple[list[tuple[str, str | None, list[str]]], list[tuple[str, str | None, object]]]:
    """(device id, label, groups) of every vehicle, and (action, target, detail) of every vehicle audit entry."""
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        vehicles = [(v.device_id, v.label, v.groups) for v in session.scalars(select(Vehicle).order_by(Vehicle.id))]
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action.like("vehicle.%")).order_by(AuditEntry.id))
        log = [(e.action, e.target, e.detail) for e in entries]
    engine.dispose()
    return vehicles, log


def test_devices_are_registered_in_groups(fleet: Fleet, sqlite_url: str) -> None:
    fleet("tenant", "create", "acme")

    out = fleet("vehicle", "add", "--tenant", "acme", "--group", "north", "--group", "Depot 2", "bus-1", "bus-2")
    fleet("vehicle", "add", "--tenant", "acme", "--label", "line 7", "bus-1")  # no --group: groups kept
    fleet("vehicle", "add", "--tenant", "acme", "--group", "south", "bus-2")  # replaced

    assert "registered 2 vehicle(s) for tenant 'acme'" in out
    vehicles, log = stored(sqlite_url)
    assert vehicles == [("bus-1", "line 7", ["Depot 2", "north"]), ("bus-2", None, ["south"])]
    assert log == [
        ("vehicle.create", "bus-1", {"label": None, "plate": None, "groups": ["Depot 2", "north"]}),
        ("vehicle.create", "bus-2", {"label": None, "plate": None, "groups": ["Depot 2", "north"]}),
        ("vehicle.update", "bus-1", {"label": {"from": None, "to": "line 7"}}),
        ("vehicle.update", "bus-2", {"groups": {"from": ["Depot 2", "north"], "to": ["south"]}}),
    ]


@pytest.mark.parametrize("group", ["north/south", " north", "x" * 65, ""])
def test_a_bad_group_registers_nothing(
    fleet: Fleet, sqlite_url: str, capfd: pytest.CaptureFixture[str], group: str
) -> None:
    fleet("tenant", "create", "acme")

    with pytest.raises(SystemExit) as exit_:
        fleet("vehicle", "add", "--tenant", "acme", "--group", "ok", "--group", group, "bus-1")

    err = capfd.readouterr().err
    assert exit_.value.code == 1
    assert err.startswith("fleet: error: invalid group name") and len(err.splitlines()) == 1
    assert stored(sqlite_url) == ([], [])
