"""Retention on PostgreSQL: partitions dropped only when their verified archive matches them, per-tenant overrides,
late data, the blob store down, the archive off, two sweeps at once."""

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text

from fleet.blobs.s3 import S3BlobStore
from fleet.db.engine import make_session_factory
from fleet.db.partitions import ensure_partitions
from fleet.errors import Conflict
from fleet.lifecycle import overrides
from fleet.settings import RetentionSettings, SharedSettings, WorkerSettings
from tests.lifecycle.seed import (
    NOW,
    add_positions,
    archive,
    days_ago,
    partitions,
    positions_on,
    purged,
    state_of,
    tenant_with_vehicle,
)
from worker.retention import LOCK_NAME, RetentionStep
from worker.service import WorkerService

pytestmark = pytest.mark.integration

# Past the default 90 days, and past ingest's 30 days for late records: droppable once archived.
OLD = 120


def step(engine: Engine, archive_enabled: bool = True, late_days: int = 30) -> RetentionStep:
    return RetentionStep(engine, RetentionSettings(), archive_enabled, timedelta(days=late_days), clock=lambda: NOW)


def dropped(table: str) -> float:
    return REGISTRY.get_sample_value("fleet_retention_partitions_dropped_total", {"table": table}) or 0.0


def test_only_a_verified_partition_whose_counts_match_is_dropped(pg: Engine) -> None:
    tenant, bus = tenant_with_vehicle(pg, "acme")
    unarchived, exported, stale, verified, late = (days_ago(OLD + n) for n in range(5))
    for day in (unarchived, exported, stale, verified, late):
        add_positions(pg, bus, day, 5)
    archive(pg, "positions", exported, "exported", {tenant: 5})
    archive(pg, "positions", stale, "stale", {tenant: 5})
    archive(pg, "positions", verified, "verified", {tenant: 5})
    archive(pg, "positions", late, "verified", {tenant: 5})
    add_positions(pg, bus, late, 1, first_second=600)  # arrived after the export
    before = dropped("positions")

    result = step(pg).run()

    assert partitions(pg) == {unarchived, exported, stale, late}
    assert dropped("positions") == before + 1
    assert purged(pg, "positions", verified) == {tenant: True}
    assert (state_of(pg, "positions", late), positions_on(pg, late), purged(pg, "positions", late)) == (
        "stale",
        6,
        {tenant: False},
    )
    assert (state_of(pg, "positions", exported), state_of(pg, "positions", stale)) == ("exported", "stale")
    kept = {(d.day, str(d.reason)) for d in result.done if d.action == "keep"}
    assert kept >= {(unarchived, "not archived"), (exported, "not archived"), (stale, "archive stale")}
    assert (late, "archive stale") in kept
    sample = {"table": "positions", "reason": "not_archived"}
    assert REGISTRY.get_sample_value("fleet_retention_kept_days", sample) == 2


def test_with_the_blob_store_down_unarchived_partitions_stay_and_verified_ones_go(pg: Engine, tmp_path: Path) -> None:
    tenant, bus = tenant_with_vehicle(pg, "acme")
    unarchived, verified = days_ago(OLD), days_ago(OLD + 1)
    add_positions(pg, bus, unarchived, 3)
    add_positions(pg, bus, verified, 3)
    archive(pg, "positions", verified, "verified", {tenant: 3})
    down = S3BlobStore("fleet-files", endpoint_url="http://127.0.0.1:1", access_key_id="a", secret_access_key="b")
    url = pg.url.render_as_string(hide_password=False)
    worker = WorkerService(SharedSettings(database_url=url), WorkerSettings(http_port=0), store=down, engine=pg)

    worker.retention.run_when_due()

    assert partitions(pg) == {unarchived}
    assert positions_on(pg, unarchived) == 3


def test_a_shorter_override_deletes_that_tenants_rows_and_a_longer_one_keeps_the_partition(pg: Engine) -> None:
    short, short_bus = tenant_with_vehicle(pg, "short")
    usual, usual_bus = tenant_with_vehicle(pg, "usual")
    long, long_bus = tenant_with_vehicle(pg, "long")
    with make_session_factory(pg)() as session:
        overrides.set_override(session, short, "positions", 40, NOW)
        overrides.set_override(session, long, "positions", 365, NOW)
        session.commit()
    recent, old = days_ago(60), days_ago(OLD)
    add_positions(pg, short_bus, recent, 4)
    add_positions(pg, usual_bus, recent, 2)
    archive(pg, "positions", recent, "verified", {short: 4, usual: 2})
    add_positions(pg, usual_bus, old, 3)
    add_positions(pg, long_bus, old, 5)
    archive(pg, "positions", old, "verified", {usual: 3, long: 5})

    step(pg).run()

    assert partitions(pg) == {recent, old}
    assert (positions_on(pg, recent, short_bus), positions_on(pg, recent, usual_bus)) == (0, 2)
    assert purged(pg, "positions", recent) == {short: True, usual: False}
    assert (positions_on(pg, old, usual_bus), positions_on(pg, old, long_bus)) == (0, 5)
    assert purged(pg, "positions", old) == {usual: True, long: False}


def test_a_day_ingest_may_still_write_to_is_emptied_not_dropped(pg: Engine) -> None:
    tenant, bus = tenant_with_vehicle(pg, "acme")
    day = days_ago(OLD)
    add_positions(pg, bus, day, 3)
    archive(pg, "positions", day, "verified", {tenant: 3})

    step(pg, late_days=OLD + 30).run()
    assert (partitions(pg), positions_on(pg, day), purged(pg, "positions", day)) == ({day}, 0, {tenant: True})

    # Once ingest takes no record of the day any more, the empty partition goes.
    step(pg).run()
    assert partitions(pg) == set()


def test_an_empty_partition_past_retention_goes_without_an_archive_and_nothing_goes_with_the_archive_off(
    pg: Engine,
) -> None:
    tenant, bus = tenant_with_vehicle(pg, "acme")
    empty, verified = days_ago(OLD), days_ago(OLD + 1)
    with pg.begin() as connection:
        ensure_partitions(connection, "positions", [empty])
    add_positions(pg, bus, verified, 2)
    archive(pg, "positions", verified, "verified", {tenant: 2})

    result = step(pg, archive_enabled=False).run()
    assert partitions(pg) == {empty, verified}
    assert {str(d.reason) for d in result.done if d.day == verified} == {"archive disabled"}

    step(pg).run()
    assert partitions(pg) == set()


def test_rows_of_no_registered_vehicle_go_with_their_day(pg: Engine) -> None:
    tenant, bus = tenant_with_vehicle(pg, "acme")
    only_orphans, mixed, overridden = days_ago(OLD), days_ago(OLD + 1), days_ago(60)
    # The archive holds no part of them (nothing maps them to a tenant), and records such a day verified.
    add_positions(pg, 999_999, only_orphans, 2)
    archive(pg, "positions", only_orphans, "verified", {})
    add_positions(pg, 999_999, mixed, 2)
    add_positions(pg, bus, mixed, 3)
    archive(pg, "positions", mixed, "verified", {tenant: 3})
    with make_session_factory(pg)() as session:
        overrides.set_override(session, tenant, "positions", 30, NOW)
        session.commit()
    # Past the tenant's 30 days, not the default 90: its rows go, the others' stay.
    add_positions(pg, 999_999, overridden, 2)
    add_positions(pg, bus, overridden, 3)
    archive(pg, "positions", overridden, "verified", {tenant: 3})

    step(pg).run()

    assert partitions(pg) == {overridden}
    assert (positions_on(pg, overridden, bus), positions_on(pg, overridden)) == (0, 2)


def test_two_sweeps_never_run_at_once(pg: Engine) -> None:
    with pg.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": LOCK_NAME})
        with pytest.raises(Conflict):
            step(pg).run()
        holder.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": LOCK_NAME})
    step(pg).run()
