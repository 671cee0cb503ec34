"""Admin subcommands: migrate, tenant, token, deadletters. Token and replay commands are audited as "cli"."""

import argparse
from datetime import datetime, timedelta

from fleet.db.engine import make_engine, make_session_factory
from fleet.deadletters.service import dead_letters, pending_dead_letters, replay
from fleet.settings import SharedSettings
from fleet.tenancy.roles import Role
from fleet.tenancy.service import (
    INITIAL_TOKEN_NAME,
    create_tenant,
    create_token,
    find_token_by_name_or_id,
    get_tenant,
    revoke_token,
    token_name,
    tokens,
)


def migrate(_args: argparse.Namespace) -> None:
    """Migrate the database to the latest schema."""
    from fleet.db.migrate import upgrade  # Alembic is heavy to import; only this command needs it

    settings = SharedSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    print("database migrated")


def tenant_create(args: argparse.Namespace) -> None:
    """Create a tenant; its token is the last line of output, shown once."""
    sessions = make_session_factory(make_engine(SharedSettings().database_url))
    with sessions() as session:
        tenant, token = create_tenant(session, args.name)
        session.commit()
    print(f"created tenant {tenant.name!r}; its admin API token {INITIAL_TOKEN_NAME!r} (shown once):")
    print(token)


def _when(ts: datetime | None) -> str:
    return f"{ts:%Y-%m-%dT%H:%M:%SZ}" if ts is not None else "-"


def token_create(args: argparse.Namespace) -> None:
    """Create an API token of a tenant; the token is the last line of output, shown once."""
    expires_in = timedelta(days=args.expires_in) if args.expires_in is not None else None
    sessions = make_session_factory(make_engine(SharedSettings().database_url))
    with sessions() as session:
        tenant = get_tenant(session, args.tenant)
        token, secret = create_token(session, tenant.id, name=args.name, role=Role(args.role), expires_in=expires_in)
        session.commit()
    expiry = f", expires {_when(token.expires_at)}" if token.expires_at else ""
    print(f"created {token.role} token {args.name!r} (id {token.id}) for tenant {args.tenant!r}{expiry} (shown once):")
    print(secret)


def token_list(args: argparse.Namespace) -> None:
    """Print a tenant's tokens, one per line, never their secrets."""
    sessions = make_session_factory(make_engine(SharedSettings().database_url))
    with sessions() as session:
        rows = tokens(session, get_tenant(session, args.tenant).id)
    lines = [("ID", "NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED", "REVOKED")]
    lines += [
        (
            str(t.id),
            token_name(t),
            t.role,
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used_at),
            _when(t.revoked_at),
        )
        for t in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def token_revoke(args: argparse.Namespace) -> None:
    """Revoke a tenant's token, given by name or id."""
    sessions = make_session_factory(make_engine(SharedSettings().database_url))
    with sessions() as session:
        tenant = get_tenant(session, args.tenant)
        token = find_token_by_name_or_id(session, tenant.id, args.token)
        already = token.revoked_at is not None
        revoke_token(session, tenant.id, token.id)
        session.commit()
    state = "was already revoked" if already else "revoked"
    print(f"token {token_name(token)!r} (id {token.id}) of tenant {args.tenant!r} {state} at {_when(token.revoked_at)}")


def deadletters_list(args: argparse.Namespace) -> None:
    """Print the newest dead letters, one per line."""
    sessions = make_session_factory(make_engine(SharedSettings().database_url))
    with sessions() as session:
        letters = dead_letters(session, tenant_id=None, limit=args.limit)
    for letter in letters:
        payload = letter.payload[:200].decode("utf-8", errors="replace")
        print(
            f"{letter.id}\t{letter.received_at:%Y-%m-%dT%H:%M:%SZ}\t{letter.reason}\t{letter.topic}\t"
            f"{letter.detail}\t{payload}"
        )
    if not letters:
        print("no dead letters")


def deadletters_replay(args: argparse.Namespace) -> None:
    """Publish dead letters again (all pending ones, or the given ids) for ingest to store."""
    settings = SharedSettings()
    sessions = make_session_factory(make_engine(settings.database_url))
    with sessions() as session:
        letters = pending_dead_letters(session, tenant_id=None, ids=None if args.all else args.ids)
        replayed = replay(session, settings.mqtt_endpoint(), letters)
        session.commit()
    print(f"replayed {replayed} dead letter(s); {len(letters) - replayed} could not be (bad topic)")
