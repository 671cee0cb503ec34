"""`fleet api` in FLEET_API_WORKERS processes: one listening socket, worker processes serving it, stopped together.

The parent binds the port, then spawns the workers (fresh interpreters: no engine, thread or lock of the parent's
is shared) and hands each the socket; the kernel gives every new connection to one of them. A worker is the server
`fleet api` runs alone (`cli.services.api_server`): on SIGTERM it stops accepting, ends its event streams and
finishes the requests under way. The parent forwards SIGTERM and SIGINT and waits for them all. A worker that ends
by itself stops the others and `fleet api` exits 1: the orchestrator sees the failure and restarts the instance,
rather than it serving on quietly with fewer workers.

Metrics: every worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess
mode; a fresh directory the parent creates and removes), so /metrics, whichever worker answers it, adds up all of
them. Each worker has its own connection pool, admission limit, rate limits and stream limit.
"""

import contextlib
import faulthandler
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from multiprocessing.process import BaseProcess

from cli.signals import stop_on_signals
from fleet.logs import configure_logging
from fleet.settings import ApiSettings, BrokerSettings, SharedSettings

logger = logging.getLogger(__name__)

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# How often the parent checks that every worker still runs.
POLL_SECONDS = 0.2


def serve_workers(settings: ApiSettings) -> None:
    """Serve the API from `settings.workers` processes until SIGTERM or SIGINT; exit 1 when a worker ends first."""
    import uvicorn

    stop = stop_on_signals()
    # Only to bind the socket as uvicorn would (IPv4 or IPv6, SO_REUSEADDR, inheritable); each worker has its app.
    config = uvicorn.Config("api.app:create_app", host=settings.host, port=settings.port, log_config=None)
    shared_socket = config.bind_socket()
    metrics_dir = tempfile.mkdtemp(prefix="fleet-api-metrics-")
    # Read by prometheus_client when a worker imports it: the workers inherit the environment.
    os.environ[METRICS_DIR_VARIABLE] = metrics_dir
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_worker, args=(shared_socket,), name=f"fleet-api-{number}")
        for number in range(1, settings.workers + 1)
    ]
    ended: BaseProcess | None = None
    try:
        for worker in workers:
            worker.start()
        logger.info("API served by %d worker processes: %s", len(workers), ", ".join(str(w.pid) for w in workers))
        while ended is None and not stop.wait(POLL_SECONDS):
            ended = next((worker for worker in workers if not worker.is_alive()), None)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: the worker's graceful shutdown
        for worker in workers:
            worker.join()
        shared_socket.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if ended is not None and not stop.is_set():
        logger.error("API worker %s exited (code %s); the others were stopped", ended.pid, ended.exitcode)
        sys.exit(1)


def _worker(shared_socket: socket.socket) -> None:
    """One worker process: the API server on the parent's socket until SIGTERM."""
    from cli.services import api_server

    # As cli.main does for every fleet process: `kill -USR1 <pid>` prints where each thread waits.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    shared = SharedSettings()
    configure_logging(shared.log_format, shared.log_level)
    server = api_server(shared, ApiSettings(), BrokerSettings())
    # As uvicorn.run does: the server raises the Ctrl-C it shut down on again once it is done.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[shared_socket])
