"""Vehicle subcommands: register units and manage their broker credentials."""

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import Vehicle
from fleet.errors import Invalid, NotFound
from fleet.mqtt.credentials_file import write_credentials
from fleet.mqtt.dynsec import DynsecControl
from fleet.registry import repository
from fleet.registry.credentials import issue_credentials, revoke_credentials
from fleet.registry.service import add_vehicles
from fleet.settings import BrokerSettings, SharedSettings
from fleet.tenancy.service import get_tenant

T = TypeVar("T")


def vehicle_add(args: argparse.Namespace) -> None:
    """Register devices for a tenant and, when fleet manages the broker, issue each a credential."""
    broker = _broker()

    def register(session: Session) -> dict[str, str]:
        tenant = get_tenant(session, args.tenant)
        vehicles = add_vehicles(session, tenant, args.device_ids, args.label, args.plate, args.groups)
        print(f"registered {len(vehicles)} vehicle(s) for tenant {args.tenant!r}")
        return issue_credentials(session, broker, vehicles) if broker else {}

    passwords = _in_transaction(register)
    if broker is None:
        print("no broker credentials issued: FLEET_BROKER_ADMIN_URL is not set (a broker managed elsewhere)")
    else:
        _show(passwords, args.credentials_out)


def credentials_rotate(args: argparse.Namespace) -> None:
    """Issue new broker credentials for devices; the old ones stop working at once."""
    broker = _require_broker()
    passwords = _in_transaction(lambda session: issue_credentials(session, broker, _vehicles(session, args.device_ids)))
    _show(passwords, args.credentials_out)


def credentials_revoke(args: argparse.Namespace) -> None:
    """Revoke devices' broker credentials; connected units are disconnected."""
    broker = _require_broker()
    _in_transaction(lambda session: revoke_credentials(session, broker, _vehicles(session, args.device_ids)))
    print(f"revoked the broker credentials of {len(args.device_ids)} device(s); connected units were disconnected")


def _broker() -> DynsecControl | None:
    endpoint = BrokerSettings().admin_endpoint(SharedSettings())
    return DynsecControl(endpoint) if endpoint else None


def _require_broker() -> DynsecControl:
    broker = _broker()
    if broker is None:
        raise Invalid("FLEET_BROKER_ADMIN_URL is not set: fleet manages no broker credentials here")
    return broker


def _in_transaction(work: Callable[[Session], T]) -> T:
    with make_session_factory(make_engine(SharedSettings().database_url))() as session:
        result = work(session)
        session.commit()
    return result


def _vehicles(session: Session, device_ids: Sequence[str]) -> list[Vehicle]:
    found = {v.device_id: v for v in repository.vehicles_by_device_ids(session, device_ids)}
    missing = [d for d in device_ids if d not in found]
    if missing:
        raise NotFound(f"no vehicle {missing[0]!r}")
    return [found[d] for d in device_ids]


def _show(passwords: dict[str, str], out: Path | None) -> None:
    """Write the secrets to a file readable by its owner only, or print them; they are shown only now."""
    if out is not None:
        write_credentials(out, passwords)
        print(f"broker credentials of {len(passwords)} device(s) written to {out} (mode 0600; shown only now)")
        return
    print("broker credentials (username = client id = device id; shown only now):")
    for device_id, password in sorted(passwords.items()):
        print(f"{device_id}\t{password}")
