"""`fleet up`: broker, SQLite, ingest, API and simulated buses in one process, on embedded defaults."""

import argparse
import logging
import threading
from collections.abc import Callable

import uvicorn

from cli.embedded_broker import start_embedded_broker
from cli.services import api_server
from cli.signals import stop_on_signals
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.errors import NotFound
from fleet.registry.service import add_vehicles
from fleet.settings import ApiSettings, IngestSettings, SharedSettings, SimSettings
from fleet.tenancy.service import create_tenant, get_tenant, issue_token
from ingest.service import IngestService
from vehicle_sim.fleet_sim import run_simulation

logger = logging.getLogger(__name__)

DEMO_TENANT = "demo"
JOIN_SECONDS = 5.0


def _demo_token(database_url: str, device_ids: list[str]) -> str:
    """Create the demo tenant once, register the simulated buses, and issue a fresh token."""
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        try:
            tenant = get_tenant(session, DEMO_TENANT)
        except NotFound:
            tenant, token = create_tenant(session, DEMO_TENANT)
        else:
            token = issue_token(session, tenant)
        add_vehicles(session, tenant, device_ids)
        session.commit()
    engine.dispose()
    return token


def demo_api_server(shared: SharedSettings, port: int) -> uvicorn.Server:
    """The server `fleet api` would run with the environment's settings, on 127.0.0.1:`port`."""
    return api_server(shared, ApiSettings().model_copy(update={"host": "127.0.0.1", "port": port}))


def _thread(name: str, target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def up(args: argparse.Namespace) -> None:
    """Run the whole system until Ctrl-C."""
    stop = stop_on_signals()
    shared = SharedSettings()
    shared.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(shared.database_url)
    sim_settings = SimSettings(vehicles=args.vehicles)
    device_ids = [f"{sim_settings.prefix}{i:04d}" for i in range(1, sim_settings.vehicles + 1)]
    token = _demo_token(shared.database_url, device_ids)

    broker = start_embedded_broker(shared.data_dir)
    mqtt_url = f"mqtt://127.0.0.1:{broker.port}"
    shared = shared.model_copy(update={"mqtt_url": mqtt_url})
    ingest_settings = IngestSettings(http_port=0, mqtt_protocol="5" if broker.supports_v5 else "3.1.1")
    ingest = IngestService(shared, ingest_settings)
    server = demo_api_server(shared, args.port)
    threads = [
        _thread("ingest", lambda: ingest.run(stop)),
        _thread("api", server.run),
        _thread("sim", lambda: run_simulation(shared.mqtt_endpoint(), sim_settings, stop)),
    ]
    api_url = f"http://127.0.0.1:{args.port}"
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
