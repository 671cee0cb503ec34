"""`fleet api` with FLEET_API_WORKERS=2: two processes serve one port, /metrics adds both up, SIGTERM drains both."""

import os
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from fleet.db.engine import make_session_factory
from fleet.ports import free_port
from tests.api.conftest import UNREACHABLE_BROKER, seed_tenant
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.processes import FleetProcess
from tests.fixtures.table_lock import locked, waiting_for

pytestmark = pytest.mark.integration

HEALTHZ_REQUESTS = 10


def ready(base: str) -> bool:
    """True once the API answers /readyz with 200."""
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def worker_pids(parent: int) -> list[int]:
    """The worker processes `fleet api` spawned (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def healthz_requests(base: str) -> float:
    """fleet_api_requests_total of /healthz as /metrics reports it."""
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("fleet_api_requests_total{") and 'route="/healthz"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def settled(attempt: Future[httpx.Response], engine: Engine, waiting: int) -> bool:
    """True once `attempt` was answered or is one more request waiting on the positions lock than `waiting`."""
    return attempt.done() or waiting_for(engine, "positions") > waiting


def test_two_workers_serve_together_and_drain_on_sigterm(
    pg_url: str, pg_engine: Engine, unique: str, tmp_path: Path
) -> None:
    tenant = seed_tenant(make_session_factory(pg_engine), f"workers-{unique}", [f"w-{unique}-1"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/v1/vehicles/{tenant.device_ids[0]}/positions"
    env = {
        "FLEET_DATABASE_URL": pg_url,
        "FLEET_MQTT_URL": UNREACHABLE_BROKER,
        "FLEET_API_WORKERS": "2",
        # One request in flight per process: two admitted at once can only be in two processes.
        "FLEET_API_MAX_CONCURRENT_REQUESTS": "1",
        "FLEET_API_STATEMENT_TIMEOUT_SECONDS": "60",
    }
    api = FleetProcess(["api", "--port", str(port)], env, tmp_path / "api.log").start()
    assert api.process is not None
    try:
        wait_until(lambda: ready(base), f"fleet api ready ({api.log_path})", timeout=60)
        assert len(worker_pids(api.process.pid)) == 2

        # Counted in whichever worker took the connection, reported by whichever answers the scrape.
        before = healthz_requests(base)
        for _ in range(HEALTHZ_REQUESTS):
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        assert healthz_requests(base) == before + HEALTHZ_REQUESTS

        with ThreadPoolExecutor(20) as pool:
            with locked(pg_engine, "positions"):
                admitted: list[Future[httpx.Response]] = []
                shed = 0
                # The kernel gives each connection to either worker: one that has its request in flight sheds.
                while len(admitted) < 2:
                    assert shed < 20, "a second request was never admitted: one process serves"
                    attempt = pool.submit(httpx.get, url, headers=tenant.headers, timeout=60)
                    wait_until(partial(settled, attempt, pg_engine, len(admitted)), "the request shed or at the lock")
                    if attempt.done():
                        assert attempt.result().status_code == 503
                        shed += 1
                    else:
                        admitted.append(attempt)
                api.process.send_signal(signal.SIGTERM)
                wait_until(lambda: api.log().count("Shutting down") == 2, "both workers shutting down")
                time.sleep(0.2)  # the requests under way are still waiting on the lock
                assert not any(request.done() for request in admitted)
            answers = [request.result() for request in admitted]
        api.process.wait(timeout=20)
    finally:
        api.terminate()

    assert [answer.status_code for answer in answers] == [200, 200]
    assert api.process.returncode == 0, api.log()[-3000:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=2)


def test_a_worker_that_dies_stops_the_others_and_fleet_api_exits_1(pg_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {"FLEET_DATABASE_URL": pg_url, "FLEET_MQTT_URL": UNREACHABLE_BROKER, "FLEET_API_WORKERS": "2"}
    api = FleetProcess(["api", "--port", str(port)], env, tmp_path / "api.log").start()
    assert api.process is not None
    try:
        wait_until(lambda: ready(f"http://127.0.0.1:{port}"), f"fleet api ready ({api.log_path})", timeout=60)
        killed, survivor = worker_pids(api.process.pid)
        os.kill(killed, signal.SIGKILL)
        api.process.wait(timeout=20)
    finally:
        api.terminate()

    assert api.process.returncode == 1
    assert f"API worker {killed} exited" in api.log()
    assert not Path(f"/proc/{survivor}").exists()
