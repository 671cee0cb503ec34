"""`fleet retention run [--dry-run] | set | unset | show`: retention by hand, and the tenants' own retention.

The rules (and the archive's layout, with pyarrow) are imported by `run`, so other `fleet` commands start without.
"""

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import utcnow
from fleet.lifecycle import overrides
from fleet.lifecycle.policy import RETAINED_TABLES
from fleet.lifecycle.repository import tenant_names
from fleet.settings import RetentionSettings, SharedSettings
from fleet.tenancy.service import get_tenant

if TYPE_CHECKING:
    from fleet.lifecycle.retention import Decision

_HEADER = ("TABLE", "DAY", "ACTION", "ROWS", "TENANTS", "WHY")


def add_retention_commands(commands: Any) -> None:
    """Add `fleet retention ...` to the `fleet` command's subparsers."""
    retention = commands.add_parser("retention", help="retention of the hot tier").add_subparsers(
        dest="action", required=True
    )
    run = retention.add_parser("run", help="drop or delete now what is past its retention (and archived)")
    run.add_argument("--dry-run", action="store_true", help="print what would go and what is kept, change nothing")
    run.set_defaults(handler=retention_run)
    set_days = retention.add_parser("set", help="keep a table of a tenant for a number of days of its own")
    set_days.add_argument("--tenant", required=True)
    set_days.add_argument("--table", required=True, choices=RETAINED_TABLES)
    set_days.add_argument("--days", required=True, type=int)
    set_days.set_defaults(handler=retention_set)
    unset = retention.add_parser("unset", help="go back to the default retention of a table for a tenant")
    unset.add_argument("--tenant", required=True)
    unset.add_argument("--table", required=True, choices=RETAINED_TABLES)
    unset.set_defaults(handler=retention_unset)
    show = retention.add_parser("show", help="print the defaults and the tenants' own retention")
    show.add_argument("--tenant")
    show.set_defaults(handler=retention_show)


def _print_table(lines: Sequence[Sequence[str]]) -> None:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _summed(decisions: Sequence["Decision"]) -> list["Decision"]:
    """The decisions, with the batches of one table's alarms or dead letters added up into one."""
    from fleet.lifecycle.retention import Decision

    out: list[Decision] = []
    for decision in decisions:
        last = out[-1] if out else None
        if decision.day is None and last is not None and last.day is None and last.table == decision.table:
            out[-1] = Decision(last.table, None, last.action, last.reason, (), (last.rows or 0) + (decision.rows or 0))
        else:
            out.append(decision)
    return out


def describe(decisions: Sequence["Decision"], names: dict[int, str]) -> list[tuple[str, ...]]:
    """The lines of a plan or a run: table, day, action, rows, tenants, why."""
    return [
        (
            d.table,
            str(d.day or "-"),
            d.action.value,
            "-" if d.rows is None else str(d.rows),
            ", ".join("(no vehicle)" if t is None else names.get(t, str(t)) for t in d.tenants) or "-",
            str(d.reason),
        )
        for d in _summed(decisions)
    ]


def retention_run(args: argparse.Namespace) -> None:
    """Apply retention now, or with --dry-run print what it would do."""
    from fleet.lifecycle.retention import Action
    from worker.retention import RetentionStep  # the composition root may run a service's step

    engine = make_engine(SharedSettings().database_url)
    step = RetentionStep(engine)
    decisions = step.plan() if args.dry_run else step.run().done
    with make_session_factory(engine)() as session:
        names = tenant_names(session, {tenant for d in decisions for tenant in d.tenants if tenant is not None})
    engine.dispose()
    if not decisions:
        print("nothing is past its retention")
        return
    _print_table([_HEADER, *describe(decisions, names)])
    if args.dry_run:
        gone = sum(d.rows or 0 for d in decisions if d.action in (Action.DROP, Action.DELETE))
        print(f"dry run: nothing changed; a run would remove {gone} row(s)")


def retention_set(args: argparse.Namespace) -> None:
    """Keep a table of a tenant for its own number of days."""
    with make_session_factory(make_engine(SharedSettings().database_url))() as session:
        tenant = get_tenant(session, args.tenant)
        overrides.set_override(session, tenant.id, args.table, args.days, utcnow())
        session.commit()
    print(f"tenant {args.tenant!r} keeps {args.table} {args.days} days")


def retention_unset(args: argparse.Namespace) -> None:
    """Go back to the default retention of a table for a tenant."""
    default = RetentionSettings().days(args.table)
    with make_session_factory(make_engine(SharedSettings().database_url))() as session:
        overrides.unset_override(session, get_tenant(session, args.tenant).id, args.table)
        session.commit()
    print(f"tenant {args.tenant!r} keeps {args.table} the default {default} days")


def retention_show(args: argparse.Namespace) -> None:
    """Print the days each table is kept: the defaults, and each tenant's own (or one tenant's, every table)."""
    settings = RetentionSettings()
    with make_session_factory(make_engine(SharedSettings().database_url))() as session:
        tenant = get_tenant(session, args.tenant) if args.tenant else None
        found = overrides.overrides(session, tenant.id if tenant else None)
        names = tenant_names(session, {o.tenant_id for o in found})
    if tenant is not None:
        own = {o.table_name: o.days for o in found}
        lines = [("TABLE", "DAYS", "FROM")]
        lines += [
            (table, str(own.get(table, settings.days(table))), "tenant" if table in own else "default")
            for table in RETAINED_TABLES
        ]
        _print_table(lines)
        return
    _print_table([("TABLE", "DEFAULT DAYS"), *((table, str(settings.days(table))) for table in RETAINED_TABLES)])
    if found:
        print()
        _print_table([("TENANT", "TABLE", "DAYS"), *((names[o.tenant_id], o.table_name, str(o.days)) for o in found)])
