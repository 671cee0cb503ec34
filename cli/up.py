"""`fleet up`: broker, SQLite, ingest, dispatcher, worker, API and simulated buses in one process, embedded defaults."""

import argparse
import logging
import secrets
import socket
import threading
from collections.abc import Callable

import uvicorn

from cli.embedded_broker import start_embedded_broker
from cli.services import api_server
from cli.signals import stop_on_signals
from dispatcher.service import DispatcherService
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import utcnow
from fleet.errors import NotFound
from fleet.mqtt.dynsec import DynsecControl, bootstrap_config
from fleet.mqtt.policy import ServiceIdentity
from fleet.mqtt.url import parse_mqtt_url
from fleet.registry.credentials import CredentialBroker, issue_credentials
from fleet.registry.service import add_vehicles
from fleet.settings import (
    ApiSettings,
    BlobSettings,
    BrokerSettings,
    DispatcherSettings,
    IngestSettings,
    SharedSettings,
    SimSettings,
    WorkerSettings,
)
from fleet.tenancy.roles import Role
from fleet.tenancy.service import create_tenant, create_token, get_tenant
from ingest.service import IngestService
from vehicle_sim.fleet_sim import run_simulation
from worker.service import WorkerService

logger = logging.getLogger(__name__)

DEMO_TENANT = "demo"
ADMIN_USER = "fleet-admin"
JOIN_SECONDS = 5.0


def _demo_tenant(
    database_url: str, device_ids: list[str], broker: CredentialBroker | None
) -> tuple[str, dict[str, str]]:
    """Create the demo tenant once, register the simulated buses as real units are, and issue a fresh token.

    Returns the token and, when the broker enforces access, each bus's new broker password.
    """
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        try:
            tenant = get_tenant(session, DEMO_TENANT)
        except NotFound:
            tenant, token = create_tenant(session, DEMO_TENANT)
        else:
            _, token = create_token(session, tenant.id, name=f"fleet-up-{utcnow():%Y%m%dT%H%M%S%fZ}", role=Role.ADMIN)
        vehicles = add_vehicles(session, tenant, device_ids)
        passwords = issue_credentials(session, broker, vehicles) if broker else {}
        session.commit()
    engine.dispose()
    return token, passwords


def demo_api_server(shared: SharedSettings, port: int, broker: BrokerSettings | None = None) -> uvicorn.Server:
    """The server `fleet api` would run with the environment's settings, on 127.0.0.1:`port`."""
    settings = ApiSettings().model_copy(update={"host": "127.0.0.1", "port": port})
    return api_server(shared, settings, broker or BrokerSettings())


def _listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: any free port); a port in use is a clear error."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as error:
        listener.close()
        raise ValueError(f"cannot serve the API on 127.0.0.1:{port}: {error.strerror}") from None
    listener.listen(2048)
    return listener


def _thread(name: str, target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def up(args: argparse.Namespace) -> None:
    """Run the whole system until Ctrl-C."""
    stop = stop_on_signals()
    # Bound before anything else starts: otherwise a connection of ours (to the broker, a health port) may take the
    # port from the operating system's ephemeral range first, and the API could not listen.
    api_socket = _listen(args.port)
    port = int(api_socket.getsockname()[1])
    shared = SharedSettings()
    shared.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(shared.database_url)
    sim_settings = SimSettings(vehicles=args.vehicles)
    device_ids = [f"{sim_settings.prefix}{i:04d}" for i in range(1, sim_settings.vehicles + 1)]

    # Every identity gets a fresh random password for this run: nothing of it outlives the process.
    admin, services = secrets.token_urlsafe(24), {identity: secrets.token_urlsafe(24) for identity in ServiceIdentity}
    broker = start_embedded_broker(shared.data_dir, bootstrap_config((ADMIN_USER, admin), services, {}))
    address = f"127.0.0.1:{broker.port}"
    control = DynsecControl(parse_mqtt_url(f"mqtt://{ADMIN_USER}:{admin}@{address}"))
    token, passwords = _demo_tenant(shared.database_url, device_ids, control if broker.enforces_access else None)

    def as_identity(identity: ServiceIdentity) -> SharedSettings:
        credentials = f"{identity.value}:{services[identity]}@" if broker.enforces_access else ""
        return shared.model_copy(update={"mqtt_url": f"mqtt://{credentials}{address}"})

    ingest_settings = IngestSettings(http_port=0, mqtt_protocol="5" if broker.supports_v5 else "3.1.1")
    ingest = IngestService(as_identity(ServiceIdentity.INGEST), ingest_settings)
    # The one downlink publisher, as the publisher identity; MQTT 3.1.1 on amqtt (no message expiry there).
    dispatcher_settings = DispatcherSettings(http_port=0, mqtt_protocol="5" if broker.supports_v5 else "3.1.1")
    dispatcher = DispatcherService(as_identity(ServiceIdentity.PUBLISHER), dispatcher_settings)
    admin_url = f"mqtt://{ADMIN_USER}:{admin}@{address}" if broker.enforces_access else ""
    server = demo_api_server(shared, port, BrokerSettings(admin_url=admin_url))
    # The local blob store: the units upload to the API's blob endpoint, which the worker's grants point at.
    blobs = BlobSettings().model_copy(update={"blob_base_url": f"http://127.0.0.1:{port}/v1/blobs"})
    worker = WorkerService(shared, WorkerSettings(http_port=0), blobs=blobs)
    sim_endpoint = parse_mqtt_url(f"mqtt://{address}")
    threads = [
        _thread("ingest", lambda: ingest.run(stop)),
        _thread("dispatcher", lambda: dispatcher.run(stop)),
        _thread("worker", lambda: worker.run(stop)),
        _thread("api", lambda: server.run(sockets=[api_socket])),
        _thread("sim", lambda: run_simulation(sim_endpoint, sim_settings, stop, passwords=passwords)),
    ]
    mqtt_url = f"mqtt://{address}" + (" (access control on)" if broker.enforces_access else " (no access control)")
    api_url = f"http://127.0.0.1:{port}"
    print(f"fleet is up: {sim_settings.vehicles} simulated buses, broker {mqtt_url}, data in {shared.data_dir}/")
    print(f"API: {api_url}  (docs: {api_url}/docs)")
    print(f'try: curl -H "Authorization: Bearer {token}" {api_url}/v1/live')
    print(f"demo token: {token}", flush=True)
    try:
        stop.wait()
    finally:
        print("stopping...", flush=True)
        stop.set()
        server.should_exit = True
        for thread in threads:
            thread.join(timeout=JOIN_SECONDS)
        broker.stop()
        api_socket.close()
