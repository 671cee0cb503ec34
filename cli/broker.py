"""`fleet broker bootstrap`: the first configuration of Mosquitto's dynamic-security plugin."""

import argparse
import json
import os

from fleet.db.engine import make_engine, make_session_factory
from fleet.errors import Invalid
from fleet.mqtt.dynsec import PasswordHash, bootstrap_config
from fleet.mqtt.policy import ServiceIdentity
from fleet.mqtt.url import parse_mqtt_url
from fleet.registry.credentials import active_credentials
from fleet.settings import BrokerSettings, SharedSettings


def bootstrap(args: argparse.Namespace) -> None:
    """Write the plugin's file: admin, services, and (with --from-database) every unit with its stored hash."""
    if args.if_missing and args.out.exists():
        print(f"{args.out} exists; left as it is")
        return
    settings = BrokerSettings()
    admin = parse_mqtt_url(settings.admin_url) if settings.admin_url else None
    services = {
        ServiceIdentity.INGEST: settings.ingest_password,
        ServiceIdentity.PUBLISHER: settings.publisher_password,
    }
    if admin is None or admin.username is None or admin.password is None or not all(services.values()):
        raise Invalid(
            "set FLEET_BROKER_ADMIN_URL (with user and password), FLEET_BROKER_INGEST_PASSWORD and "
            "FLEET_BROKER_PUBLISHER_PASSWORD"
        )
    vehicles: dict[str, PasswordHash] = {}
    if args.from_database:
        with make_session_factory(make_engine(SharedSettings().database_url))() as session:
            vehicles = active_credentials(session)
    config = bootstrap_config((admin.username, admin.password), services, vehicles)
    # The file holds hashes only, but it is the broker's whole access policy: owner-readable.
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(config, file, indent=1)
    print(f"wrote {args.out}: admin {admin.username!r}, {len(services)} services, {len(vehicles)} units")
