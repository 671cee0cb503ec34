"""`fleet archive run|verify|restore`: the cold tier by hand, a line per (table, day); exit 1 when one failed.

The archive's modules (and pyarrow) are imported by the handlers, so other `fleet` commands start without them.
"""

import argparse
from datetime import date
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from fleet.archive.results import DayResult, Outcome, RestoreResult
from fleet.blobs.factory import make_blob_store
from fleet.blobs.store import BlobStore
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import utcnow
from fleet.errors import FleetError
from fleet.settings import ArchiveSettings, BlobSettings, SharedSettings
from fleet.tenancy.service import get_tenant


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {value!r}") from None


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def describe(result: DayResult) -> str:
    """One line about a day: its outcome, what the archive holds, why it failed."""
    line = f"{result.table} {result.day}: {result.outcome.value.replace('_', ' ')}"
    if result.outcome in (Outcome.VERIFIED, Outcome.STALE):
        line += f" ({result.parts} parts, {result.rows} rows, {_size(result.bytes)})"
    if result.written_rows:
        line += f"; wrote {result.written_rows} rows, {_size(result.written_bytes)}"
    return f"{line}: {result.detail}" if result.detail else line


def _describe_restore(result: RestoreResult) -> str:
    return (
        f"{result.table} {result.day}: restored {result.inserted} rows from {result.parts} parts; "
        f"{result.present} already there, {result.skipped} of unknown devices skipped"
    )


def _open() -> tuple[sessionmaker[Session], BlobStore]:
    shared = SharedSettings()
    return make_session_factory(make_engine(shared.database_url)), make_blob_store(shared, BlobSettings())


def _tables(args: argparse.Namespace) -> list[str] | None:
    from fleet.archive.layout import archived_table

    return None if args.tables is None else [archived_table(name).name for name in args.tables]


def _report_failures(results: list[DayResult]) -> None:
    if not results:
        print("nothing to do")
    failed = sum(result.failed for result in results)
    if failed:
        raise FleetError(f"{failed} of {len(results)} day(s) not archived and verified")


def archive_run(args: argparse.Namespace) -> None:
    """Export and verify a closed day, or every day due."""
    from fleet.archive import runner

    tables = _tables(args)
    sessions, store = _open()
    settings = ArchiveSettings()
    results = []
    for result in runner.run(sessions, store, settings, utcnow(), day=args.day, tables=tables):
        print(describe(result), flush=True)
        results.append(result)
    _report_failures(results)


def archive_verify(args: argparse.Namespace) -> None:
    """Verify a day, or every day exported and not verified."""
    from fleet.archive import runner

    tables = _tables(args)
    sessions, store = _open()
    results = []
    for result in runner.verify(sessions, store, utcnow(), day=args.day, tables=tables):
        print(describe(result), flush=True)
        results.append(result)
    _report_failures(results)


def archive_restore(args: argparse.Namespace) -> None:
    """Put a day's archived rows back into the database."""
    from fleet.archive.restore import restore

    tables = _tables(args)
    sessions, store = _open()
    tenant_id = None
    if args.tenant is not None:
        with sessions() as session:
            tenant_id = get_tenant(session, args.tenant).id
    results = restore(sessions, store, args.day, ArchiveSettings().batch_rows, tables=tables, tenant_id=tenant_id)
    restored = 0
    for result in results:
        print(_describe_restore(result), flush=True)
        restored += 1
    if not restored:
        print(f"nothing archived on {args.day}")


def add_archive_commands(commands: Any) -> None:
    """Register `fleet archive run|verify|restore` on the `fleet` command's subparsers."""
    archive = commands.add_parser(
        "archive", help="the cold tier: closed days of the time series as Parquet in the blob store"
    ).add_subparsers(dest="action", required=True)

    def options(parser: argparse.ArgumentParser, day_required: bool = False) -> None:
        parser.add_argument("--day", type=_day, required=day_required, help="a UTC day, YYYY-MM-DD")
        parser.add_argument(
            "--table",
            action="append",
            dest="tables",
            metavar="TABLE",
            help="only this table: positions, can_samples or events (repeatable; default all)",
        )

    run = archive.add_parser("run", help="export and verify a closed day (default: every closed day due)")
    options(run)
    run.set_defaults(handler=archive_run)
    verify = archive.add_parser("verify", help="read a day back and compare (default: every day not verified)")
    options(verify)
    verify.set_defaults(handler=archive_verify)
    restore = archive.add_parser("restore", help="insert a day's archived rows the database lacks")
    options(restore, day_required=True)
    restore.add_argument("--tenant", help="only this tenant's rows (its name)")
    restore.set_defaults(handler=archive_restore)
