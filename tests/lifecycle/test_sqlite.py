"""Retention on SQLite (`fleet up`): no partitions, the same checks, then a DELETE of the day's rows."""

from datetime import timedelta

from sqlalchemy import Engine

from fleet.db.engine import make_engine
from fleet.settings import RetentionSettings
from tests.lifecycle.seed import (
    NOW,
    add_positions,
    archive,
    days_ago,
    positions_on,
    purged,
    state_of,
    tenant_with_vehicle,
)
from worker.retention import RetentionStep


def run(engine: Engine) -> None:
    RetentionStep(engine, RetentionSettings(), True, timedelta(days=30), clock=lambda: NOW).run()


def test_a_verified_day_is_deleted_and_the_rest_kept(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    tenant, bus = tenant_with_vehicle(engine, "acme")
    verified, late, unarchived, recent = days_ago(100), days_ago(101), days_ago(102), days_ago(5)
    for day in (verified, late, unarchived, recent):
        add_positions(engine, bus, day, 3)
    archive(engine, "positions", verified, "verified", {tenant: 3})
    archive(engine, "positions", late, "verified", {tenant: 2})

    run(engine)

    assert [positions_on(engine, day) for day in (verified, late, unarchived, recent)] == [0, 3, 3, 3]
    assert purged(engine, "positions", verified) == {tenant: True}
    assert (state_of(engine, "positions", late), purged(engine, "positions", late)) == ("stale", {tenant: False})
    engine.dispose()
