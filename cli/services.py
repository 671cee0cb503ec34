"""Service subcommands: ingest, api, sim."""

import argparse

import uvicorn
from api.app import create_app
from vehicle_sim.fleet_sim import run_simulation

from cli.signals import stop_on_signals
from fleet.settings import ApiSettings, IngestSettings, SharedSettings, SimSettings
from ingest.service import IngestService


def ingest(_args: argparse.Namespace) -> None:
    """Consume the uplink until SIGTERM/SIGINT, then flush and disconnect."""
    stop = stop_on_signals()
    IngestService(SharedSettings(), IngestSettings()).run(stop)


def api(args: argparse.Namespace) -> None:
    """Serve the REST API."""
    settings = ApiSettings()
    app = create_app(SharedSettings().database_url)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port, log_config=None)


def sim(args: argparse.Namespace) -> None:
    """Simulate buses until SIGTERM/SIGINT."""
    overrides = {k: v for k, v in {"vehicles": args.vehicles, "prefix": args.prefix}.items() if v is not None}
    settings = SimSettings(**overrides)
    stop = stop_on_signals()
    run_simulation(SharedSettings().mqtt_url, settings, stop)
