"""Service subcommands: ingest, api, sim.

Each imports its service inside the handler, so an ingest process never loads FastAPI and starts fast.
"""

import argparse

from cli.signals import stop_on_signals
from fleet.settings import ApiSettings, IngestSettings, SharedSettings, SimSettings


def ingest(_args: argparse.Namespace) -> None:
    """Consume the uplink until SIGTERM/SIGINT, then flush and disconnect."""
    from ingest.service import IngestService

    stop = stop_on_signals()
    IngestService(SharedSettings(), IngestSettings()).run(stop)


def api(args: argparse.Namespace) -> None:
    """Serve the REST API."""
    import uvicorn

    from api.app import create_app

    settings = ApiSettings()
    shared = SharedSettings()
    app = create_app(shared.database_url, shared.mqtt_url, settings.silent_after_seconds)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port, log_config=None)


def sim(args: argparse.Namespace) -> None:
    """Simulate buses until SIGTERM/SIGINT."""
    from vehicle_sim.fleet_sim import run_simulation

    overrides = {k: v for k, v in {"vehicles": args.vehicles, "prefix": args.prefix}.items() if v is not None}
    settings = SimSettings(**overrides)
    stop = stop_on_signals()
    run_simulation(SharedSettings().mqtt_url, settings, stop)
