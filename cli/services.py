"""Service subcommands: ingest, dispatcher, worker, api, sim.

Each imports its service inside the handler, so an ingest process never loads FastAPI and starts fast.
"""

import argparse
import contextlib
from typing import TYPE_CHECKING

from cli.signals import stop_on_signals
from fleet.settings import (
    ApiSettings,
    BrokerSettings,
    DispatcherSettings,
    IngestSettings,
    SharedSettings,
    SimSettings,
    WorkerSettings,
)

if TYPE_CHECKING:
    import uvicorn


def ingest(_args: argparse.Namespace) -> None:
    """Consume the uplink until SIGTERM/SIGINT, then flush and disconnect."""
    from ingest.service import IngestService

    stop = stop_on_signals()
    IngestService(SharedSettings(), IngestSettings()).run(stop)


def dispatcher(_args: argparse.Namespace) -> None:
    """Publish the downlink outbox until SIGTERM/SIGINT, finishing the batch under way."""
    from dispatcher.service import DispatcherService

    stop = stop_on_signals()
    DispatcherService(SharedSettings(), DispatcherSettings()).run(stop)


def worker(_args: argparse.Namespace) -> None:
    """Do the periodic work until SIGTERM/SIGINT, finishing the step under way."""
    from worker.service import WorkerService

    stop = stop_on_signals()
    WorkerService(SharedSettings(), WorkerSettings()).run(stop)


def api_server(shared: SharedSettings, settings: ApiSettings, broker: BrokerSettings) -> "uvicorn.Server":
    """The API server the settings describe: what `fleet api` and `fleet up` run."""
    import uvicorn

    from api.app import create_app
    from api.stream.server import Server
    from fleet.heap import freeze_long_lived

    app = create_app(shared, settings, broker=broker)
    # Full passes of the collector stalled every answer, a shed 503 included, for up to a tenth of a second.
    freeze_long_lived()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        # Behind Traefik the client's address (rate limits, audit log) comes from X-Forwarded-For, trusted only
        # from these proxies.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    # Ends the open /v1/stream responses first at shutdown: uvicorn waits for every response to finish.
    return Server(config, app.state.streams)


def api(args: argparse.Namespace) -> None:
    """Serve the REST API, from FLEET_API_WORKERS processes."""
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    # Read here even when the workers read them again: a refused setting is one error line, not a crash per worker.
    settings, shared, broker = ApiSettings().model_copy(update=overrides), SharedSettings(), BrokerSettings()
    if settings.workers > 1:
        from cli.api_workers import serve_workers

        serve_workers(settings)
        return
    server = api_server(shared, settings, broker)
    # As uvicorn.run does: the server raises the Ctrl-C it shut down on again once it is done.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


def sim(args: argparse.Namespace) -> None:
    """Simulate buses until SIGTERM/SIGINT."""
    from vehicle_sim.fleet_sim import run_simulation

    overrides = {k: v for k, v in {"vehicles": args.vehicles, "prefix": args.prefix}.items() if v is not None}
    settings = SimSettings(**overrides)
    stop = stop_on_signals()
    run_simulation(SharedSettings().mqtt_endpoint(), settings, stop)
