"""`fleet retention`: a dry run that changes nothing and says why, and the tenants' own retention."""

import json

import pytest
from sqlalchemy import Engine, text

from cli.main import main
from fleet.db.engine import make_engine
from tests.lifecycle.seed import (
    add_positions,
    archive,
    days_ago,
    partitions,
    positions_on,
    state_of,
    tenant_with_vehicle,
)

pytestmark = pytest.mark.integration


def fleet(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], url: str, *args: str) -> str:
    monkeypatch.setenv("FLEET_DATABASE_URL", url)
    capfd.readouterr()
    main(list(args))
    return capfd.readouterr().out


def test_a_dry_run_prints_the_plan_and_changes_nothing(
    pg: Engine, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    tenant, bus = tenant_with_vehicle(pg, "acme")
    verified, unarchived, stale = days_ago(120), days_ago(121), days_ago(122)
    for day in (verified, unarchived, stale):
        add_positions(pg, bus, day, 2)
    archive(pg, "positions", verified, "verified", {tenant: 2})
    archive(pg, "positions", stale, "verified", {tenant: 1})
    url = pg.url.render_as_string(hide_password=False)

    out = fleet(monkeypatch, capfd, url, "retention", "run", "--dry-run")

    lines = {line.split()[1]: line.split() for line in out.splitlines() if line.startswith("positions")}
    assert lines[str(verified)][2:5] == ["drop", "2", "acme"]
    assert lines[str(unarchived)][2:] == ["keep", "-", "-", "not", "archived"]
    assert lines[str(stale)][2:5] == ["stale", "2", "acme"]
    assert "dry run: nothing changed" in out
    assert partitions(pg) == {verified, unarchived, stale}
    assert state_of(pg, "positions", stale) == "verified"

    out = fleet(monkeypatch, capfd, url, "retention", "run")
    assert partitions(pg) == {unarchived, stale} and positions_on(pg, stale) == 2
    assert state_of(pg, "positions", stale) == "stale"


def test_set_show_and_unset_a_tenants_retention(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(sqlite_url)
    tenant_with_vehicle(engine, "acme")
    engine.dispose()

    assert "keeps positions 30 days" in fleet(
        monkeypatch, capfd, sqlite_url, "retention", "set", "--tenant", "acme", "--table", "positions", "--days", "30"
    )
    shown = fleet(monkeypatch, capfd, sqlite_url, "retention", "show", "--tenant", "acme").splitlines()
    assert shown[1].split() == ["positions", "30", "tenant"] and shown[3].split() == ["events", "730", "default"]
    everyone = fleet(monkeypatch, capfd, sqlite_url, "retention", "show")
    rows = [line.split() for line in everyone.splitlines()]
    assert ["acme", "positions", "30"] in rows and ["dead_letters", "30"] in rows
    assert ["webhook_deliveries", "30"] in rows
    assert "the default 90 days" in fleet(
        monkeypatch, capfd, sqlite_url, "retention", "unset", "--tenant", "acme", "--table", "positions"
    )
    with pytest.raises(SystemExit):
        fleet(monkeypatch, capfd, sqlite_url, "retention", "unset", "--tenant", "acme", "--table", "positions")
    assert "no retention of its own" in capfd.readouterr().err
    with pytest.raises(SystemExit):
        fleet(
            monkeypatch, capfd, sqlite_url, "retention", "set", "--tenant", "acme", "--table", "events", "--days", "0"
        )
    assert "days must be from 1" in capfd.readouterr().err
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        audited = connection.execute(
            text("SELECT action, target, detail FROM audit_log WHERE action = 'tenant.retention' ORDER BY id")
        ).all()
    engine.dispose()
    assert [(action, target, json.loads(detail)) for action, target, detail in audited] == [
        ("tenant.retention", "positions", {"days": 30}),
        ("tenant.retention", "positions", {"days": None}),
    ]
