"""The worker's archive step: the lag gauge, the counters, and failures that never leave the step."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from fleet.archive.days import closes_at
from fleet.archive.layout import ARCHIVED_TABLES
from fleet.blobs.local import LocalBlobStore
from fleet.db.engine import make_engine, make_session_factory
from fleet.settings import ArchiveSettings
from tests.archive.seed import DAY, add_positions, vehicle_ids
from tests.fixtures.factories import seed_tenant
from worker import metrics
from worker.archive import ArchiveStep

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 9, 12, tzinfo=UTC)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class BrokenStore:
    """A store with a bug: every write raises something that is not a store error."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"broken: {name}")


def test_the_lag_counts_from_the_close_of_the_oldest_day_not_verified_and_the_counters_what_was_written(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    seed_tenant(engine, "a", ["bus-w1"])
    add_positions(sessions, vehicle_ids(sessions, ["bus-w1"])["bus-w1"], DAY, 25)
    store = LocalBlobStore(tmp_path / "blobs", b"k" * 32, "http://127.0.0.1:1/v1/blobs")
    rows, written = (
        sample("fleet_archive_rows_total", table="positions"),
        sample("fleet_archive_bytes_total", table="positions"),
    )

    ArchiveStep(sessions, store, ArchiveSettings(enabled=False), clock=lambda: NOW).run_when_due()

    assert sample("fleet_archive_lag_seconds") == (NOW - closes_at(DAY, 6.0)).total_seconds()
    assert sample("fleet_archive_rows_total", table="positions") == rows

    step = ArchiveStep(sessions, store, ArchiveSettings(), clock=lambda: NOW)
    step.run_when_due()

    assert sample("fleet_archive_lag_seconds") == 0
    assert sample("fleet_archive_rows_total", table="positions") == rows + 25
    assert sample("fleet_archive_bytes_total", table="positions") > written

    errors = sample("fleet_archive_failures_total", reason="error")
    broken = ArchiveStep(sessions, BrokenStore(), ArchiveSettings(), clock=lambda: NOW)  # type: ignore[arg-type]
    add_positions(sessions, vehicle_ids(sessions, ["bus-w1"])["bus-w1"], DAY.replace(day=6), 3)
    broken.run_when_due()
    assert sample("fleet_archive_failures_total", reason="error") == errors + 1
    broken.run_when_due()  # not due again within the interval
    assert sample("fleet_archive_failures_total", reason="error") == errors + 1
    engine.dispose()


def test_a_backlog_is_archived_a_budget_per_pass_and_goes_on_at_the_next_pass(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    seed_tenant(engine, "a", ["bus-w1"])
    vehicle = vehicle_ids(sessions, ["bus-w1"])["bus-w1"]
    for offset in range(3):
        add_positions(sessions, vehicle, DAY.replace(day=DAY.day + offset), 5)
    store = LocalBlobStore(tmp_path / "blobs", b"k" * 32, "http://127.0.0.1:1/v1/blobs")
    # Each day takes longer than the budget: a pass archives one and leaves the rest to the next pass.
    monkeypatch.setattr("worker.archive.BUDGET_SECONDS", 0.0)
    step = ArchiveStep(sessions, store, ArchiveSettings(), clock=lambda: NOW)

    archived = []
    for _ in range(4):
        step.run_when_due()
        with sessions() as session:
            archived.append(session.scalar(text("SELECT count(*) FROM archive_days WHERE state = 'verified'")))

    assert archived == [1, 2, 3, 3]
    engine.dispose()


def test_the_metrics_have_a_label_per_archived_table() -> None:
    assert set(metrics.ARCHIVE_TABLES) == set(ARCHIVED_TABLES)
