"""`fleet archive run|verify|restore` through the `fleet` command, on PostgreSQL and SeaweedFS."""

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from cli.main import main
from fleet.archive.layout import POSITIONS, part_key
from fleet.db.models import Position
from tests.archive.conftest import Archive
from tests.archive.seed import DAY, add_positions, vehicle_ids
from tests.fixtures.factories import seed_tenant
from tests.fixtures.s3 import SeaweedServer

pytestmark = pytest.mark.integration


def fleet(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit code, output and error output of `fleet *args`."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = int(exit.code or 0)
    captured = capfd.readouterr()
    return code, captured.out, captured.err


def test_run_verify_and_restore_a_day_from_the_command_line(
    pg_archive: Archive,
    s3: SeaweedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    a = seed_tenant(pg_archive.engine, "acme", ["bus-c1"])
    seed_tenant(pg_archive.engine, "other", ["bus-c2"])
    ids = vehicle_ids(pg_archive.sessions, ["bus-c1", "bus-c2"])
    add_positions(pg_archive.sessions, ids["bus-c1"], DAY, 30)
    add_positions(pg_archive.sessions, ids["bus-c2"], DAY, 20)
    for name, value in {
        "FLEET_DATABASE_URL": pg_archive.url,
        "FLEET_DATA_DIR": str(tmp_path),
        "FLEET_S3_BUCKET": pg_archive.store.bucket,  # type: ignore[attr-defined]
        "FLEET_S3_ENDPOINT_URL": s3.endpoint_url,
        "FLEET_S3_ACCESS_KEY_ID": s3.access_key_id,
        "FLEET_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
    }.items():
        monkeypatch.setenv(name, value)

    code, out, _ = fleet(capfd, "archive", "run", "--day", "2026-01-05")
    assert code == 0
    assert out.splitlines()[0].startswith("positions 2026-01-05: verified (2 parts, 50 rows, ")
    assert "wrote 50 rows" in out.splitlines()[0]
    assert out.splitlines()[1:] == [
        "can_samples 2026-01-05: empty",
        "events 2026-01-05: empty",
    ]

    code, out, _ = fleet(capfd, "archive", "verify", "--day", "2026-01-05", "--table", "positions")
    assert (code, out.split(" (")[0]) == (0, "positions 2026-01-05: verified")
    assert fleet(capfd, "archive", "verify")[:2] == (0, "nothing to do\n")

    with pg_archive.sessions() as session:
        session.execute(delete(Position))
        session.commit()
    code, out, _ = fleet(capfd, "archive", "restore", "--day", "2026-01-05", "--tenant", "acme")
    assert (code, out) == (
        0,
        "positions 2026-01-05: restored 30 rows from 1 parts; 0 already there, 0 of unknown devices skipped\n",
    )
    with pg_archive.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Position)) == 30

    # A part gone from the store: the verification fails, and says why.
    pg_archive.store.delete(part_key(POSITIONS, DAY, a.id, 1))
    code, out, err = fleet(capfd, "archive", "verify", "--day", "2026-01-05", "--table", "positions")
    assert code == 1 and "stale" in out and "is missing from the store" in out
    assert err.endswith("fleet: error: 1 of 1 day(s) not archived and verified\n")

    code, _, err = fleet(capfd, "archive", "run", "--day", "2999-01-01")
    assert code == 1 and "2999-01-01 is not closed" in err
    code, _, err = fleet(capfd, "archive", "run", "--table", "alarms")
    assert code == 1 and "alarms is not archived" in err
    code, _, err = fleet(capfd, "archive", "restore")
    assert code == 2 and "--day" in err
