"""Admin subcommands: migrate, tenant, vehicle, deadletters."""

import argparse

from fleet.db.engine import make_engine, make_session_factory
from fleet.deadletters.service import dead_letters, pending_dead_letters, replay
from fleet.registry.service import add_vehicles
from fleet.settings import SharedSettings
from fleet.tenancy.service import create_tenant, get_tenant


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
    print(f"created tenant {tenant.name!r}; its API token (shown once):")
    print(token)


def vehicle_add(args: argparse.Namespace) -> None:
    """Register devices for a tenant."""
    sessions = make_session_factory(make_engine(SharedSettings().database_url))
    with sessions() as session:
        vehicles = add_vehicles(session, get_tenant(session, args.tenant), args.device_ids, args.label, args.plate)
        session.commit()
    print(f"registered {len(vehicles)} vehicle(s) for tenant {args.tenant!r}")


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
