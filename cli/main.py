"""Entry point of the `fleet` command."""

import argparse
import faulthandler
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from cli import admin, services, vehicles
from cli import broker as broker_commands
from cli.archive import add_archive_commands
from cli.retention import add_retention_commands
from fleet import settings as settings_module
from fleet.errors import FleetError
from fleet.logs import configure_logging
from fleet.settings import SharedSettings
from fleet.tenancy.roles import Role

logger = logging.getLogger(__name__)


def _up(args: argparse.Namespace) -> None:
    from cli.up import up

    up(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="fleet", description="Telematics backend for bus and coach fleets.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_up = commands.add_parser("up", help="run everything on embedded defaults (broker, SQLite, simulated buses)")
    run_up.add_argument("--vehicles", type=int, default=20, help="simulated buses (default 20)")
    run_up.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    run_up.set_defaults(handler=_up)

    commands.add_parser("migrate", help="migrate the database to the latest schema").set_defaults(handler=admin.migrate)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(dest="action", required=True)
    tenant_create = tenant.add_parser("create", help="create a tenant and print its first admin API token")
    tenant_create.add_argument("name")
    tenant_create.set_defaults(handler=admin.tenant_create)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True)
    token_create = token.add_parser("create", help="create an API token and print it (shown once)")
    token_create.add_argument("--tenant", required=True)
    token_create.add_argument("--role", required=True, choices=[role.value for role in Role])
    token_create.add_argument("--name", required=True, help="unique within the tenant: 1-100 of A-Z a-z 0-9 . _ -")
    token_create.add_argument("--expires-in", type=int, metavar="DAYS", help="days until it expires (default never)")
    token_create.set_defaults(handler=admin.token_create)
    token_list = token.add_parser("list", help="list a tenant's tokens (never their secrets)")
    token_list.add_argument("--tenant", required=True)
    token_list.set_defaults(handler=admin.token_list)
    token_revoke = token.add_parser("revoke", help="revoke a token from now on")
    token_revoke.add_argument("--tenant", required=True)
    token_revoke.add_argument("token", metavar="NAME_OR_ID")
    token_revoke.set_defaults(handler=admin.token_revoke)

    vehicle = commands.add_parser("vehicle", help="manage vehicles").add_subparsers(dest="action", required=True)
    vehicle_add = vehicle.add_parser("add", help="register devices for a tenant")
    vehicle_add.add_argument("--tenant", required=True)
    vehicle_add.add_argument("--label")
    vehicle_add.add_argument("--plate")
    vehicle_add.add_argument(
        "--group",
        action="append",
        dest="groups",
        metavar="GROUP",
        help="a group of the tenant to put the devices in (repeatable); replaces a registered device's groups",
    )
    vehicle_add.add_argument("--credentials-out", type=Path, help="write the broker credentials to this file (0600)")
    vehicle_add.add_argument("device_ids", nargs="+", metavar="DEVICE_ID")
    vehicle_add.set_defaults(handler=vehicles.vehicle_add)
    credentials = vehicle.add_parser("credentials", help="manage the units' broker credentials").add_subparsers(
        dest="credentials_action", required=True
    )
    rotate = credentials.add_parser("rotate", help="issue new credentials; the old ones stop working at once")
    rotate.add_argument("--credentials-out", type=Path, help="write them to this file (0600) instead of printing")
    rotate.add_argument("device_ids", nargs="+", metavar="DEVICE_ID")
    rotate.set_defaults(handler=vehicles.credentials_rotate)
    revoke = credentials.add_parser("revoke", help="refuse these units from now on and disconnect them")
    revoke.add_argument("device_ids", nargs="+", metavar="DEVICE_ID")
    revoke.set_defaults(handler=vehicles.credentials_revoke)

    broker = commands.add_parser("broker", help="the broker's access control").add_subparsers(
        dest="action", required=True
    )
    bootstrap = broker.add_parser("bootstrap", help="write the first dynamic-security configuration of Mosquitto")
    bootstrap.add_argument("--out", type=Path, required=True, help="the plugin's JSON file")
    bootstrap.add_argument("--if-missing", action="store_true", help="leave an existing file as it is")
    bootstrap.add_argument(
        "--from-database", action="store_true", help="include every unit's credential (rebuilds a lost broker volume)"
    )
    bootstrap.set_defaults(handler=broker_commands.bootstrap)

    letters = commands.add_parser("deadletters", help="inspect dead letters").add_subparsers(
        dest="action", required=True
    )
    letters_list = letters.add_parser("list", help="list the newest dead letters")
    letters_list.add_argument("--limit", type=int, default=50)
    letters_list.set_defaults(handler=admin.deadletters_list)
    letters_replay = letters.add_parser("replay", help="publish dead letters again once their cause is fixed")
    which = letters_replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every dead letter not replayed yet")
    which.add_argument("ids", nargs="*", type=int, default=[], metavar="ID")
    letters_replay.set_defaults(handler=admin.deadletters_replay)

    commands.add_parser("ingest", help="consume the MQTT uplink into the database").set_defaults(
        handler=services.ingest
    )
    commands.add_parser(
        "dispatcher", help="publish the downlink outbox to the vehicles' units (as the fleet-publisher identity)"
    ).set_defaults(handler=services.dispatcher)
    commands.add_parser(
        "worker", help="periodic work: answer file offers, check uploads, delete files past their retention"
    ).set_defaults(handler=services.worker)

    run_api = commands.add_parser("api", help="serve the REST API")
    run_api.add_argument("--host")
    run_api.add_argument("--port", type=int)
    run_api.set_defaults(handler=services.api)

    run_sim = commands.add_parser("sim", help="simulate buses publishing over MQTT")
    run_sim.add_argument("--vehicles", type=int)
    run_sim.add_argument("--prefix")
    run_sim.set_defaults(handler=services.sim)
    add_archive_commands(commands)
    add_retention_commands(commands)
    return parser


def describe_settings_error(error: ValidationError) -> str:
    """One line naming each refused environment variable and why, e.g. `FLEET_INGEST_BATCH_MAX_MESSAGES: ...`."""
    settings_class = getattr(settings_module, error.title, None)
    config = getattr(settings_class, "model_config", {})
    prefix = str(config.get("env_prefix", "")) if isinstance(config, dict) else ""
    problems = []
    for item in error.errors():
        name = f"{prefix}{item['loc'][0]}".upper() if item["loc"] and prefix else error.title
        problems.append(f"{name}: {item['msg']}")
    return "; ".join(problems)


def main(argv: Sequence[str] | None = None) -> None:
    """Run one subcommand; exit non-zero with a one-line error on failure."""
    args = build_parser().parse_args(argv)
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see where a stuck process waits.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        shared = SharedSettings()
        configure_logging(shared.log_format, shared.log_level)
        args.handler(args)
    except ValidationError as error:
        print(f"fleet: error: {describe_settings_error(error)}", file=sys.stderr)
        sys.exit(1)
    except (FleetError, ValueError) as error:
        print(f"fleet: error: {str(error).splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:
        logger.debug("failed", exc_info=True)
        first_line = str(error).splitlines()[0] if str(error) else ""
        print(f"fleet: error: {type(error).__name__}: {first_line}", file=sys.stderr)
        sys.exit(1)
