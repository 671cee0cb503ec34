"""The docker-compose stack as plain processes on loopback, run from the repo's own configuration files.

PostgreSQL and Mosquitto (the session fixtures), `fleet migrate`, a tenant and five vehicles, two `fleet ingest` in
one share group, `fleet api`, `fleet sim --vehicles 5`, Traefik from deploy/traefik and Prometheus from
deploy/prometheus/prometheus.yml with the alert rules of helm/fleet/files/alerts.yml. The copies of those files
differ from the repo's only in addresses, ports, intervals and `for:` durations.

It proves that Traefik routes the API, that Prometheus scrapes every service with the job names the rules and
dashboards use, and that a bus that stops sending while its connection stays open fires FleetVehiclesSilent.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from fleet.ports import free_port, wait_for_port
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.processes import fleet_command
from tests.fixtures.s3 import REGION, SeaweedServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "helm" / "fleet" / "files" / "alerts.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
TRAEFIK_STATIC = REPO / "deploy" / "traefik" / "traefik.yml"
TRAEFIK_DYNAMIC = REPO / "deploy" / "traefik" / "dynamic" / "fleet.yml"

VEHICLES = 5
SILENT_AFTER_SECONDS = 10
# Prometheus scrapes and evaluates every second; every alert's `for:` becomes this.
INTERVAL = "1s"
FOR = "2s"
COMPOSE_API_URL = "http://api:8000"

T = TypeVar("T")


# --- templating: only addresses, ports, intervals and durations change -----------------------------------------


def shortened_alert_rules(text: str, duration: str) -> str:
    """alerts.yml with every `for:` value replaced by `duration`."""
    rendered, count = re.subn(r"(?m)^(\s+for:\s*)\S+\s*$", rf"\g<1>{duration}", text)
    assert count == text.count("alert:"), "every rule must have its `for:` on a line of its own"
    return rendered


def prometheus_config(text: str, interval: str, targets_dir: Path) -> dict[str, Any]:
    """prometheus.yml with 1 s intervals and each job's static targets replaced by a file_sd file of that job."""
    config = yaml.safe_load(text)
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    for job in config["scrape_configs"]:
        job.pop("static_configs")
        job["file_sd_configs"] = [{"files": [str(targets_dir / f"{job['job_name']}.json")]}]
    return config


def traefik_static(text: str, port: int, dynamic_dir: Path) -> str:
    """traefik.yml with the web entrypoint on a loopback port and the file provider on `dynamic_dir`."""
    text, entrypoints = re.subn(r'(?m)^(\s+address:\s*)":80"$', rf'\g<1>"127.0.0.1:{port}"', text)
    text, providers = re.subn(r"(?m)^(\s+directory:\s*)/etc/traefik/dynamic$", rf"\g<1>{dynamic_dir}", text)
    assert entrypoints == 1 and providers == 1, "deploy/traefik/traefik.yml changed shape"
    return text


def traefik_dynamic(text: str, api_url: str) -> str:
    """fleet.yml with the API server URL of compose replaced by `api_url`."""
    assert COMPOSE_API_URL in text
    return text.replace(COMPOSE_API_URL, api_url)


# --- processes and HTTP ----------------------------------------------------------------------------------------


class Process:
    """One child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def running(self) -> bool:
        """True until the process exits."""
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        """Send `signum` to the process group (only the process itself is in it, unless it forked)."""
        if self.running():
            os.killpg(self.popen.pid, signum)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (SIGCONT too, in case it was stopped), then SIGKILL after `grace` seconds."""
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(timeout=10)

    def tail(self, lines: int = 15) -> str:
        """The last lines of its output."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Stack:
    """Everything the test started; `close` stops it all, newest first."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.processes: list[Process] = []

    def start(self, name: str, command: list[str], **env: str) -> Process:
        """Start a process with the stack's environment plus `env`."""
        process = Process(name, command, {**self.env, **env}, self.log_dir)
        self.processes.append(process)
        return process

    def fleet(self, name: str, *args: str, **env: str) -> Process:
        """Start `fleet ARGS...`."""
        return self.start(name, [*fleet_command(), *args], **env)

    def run_fleet(self, *args: str) -> str:
        """Run a `fleet` admin command to completion and return its output."""
        result = subprocess.run(
            [*fleet_command(), *args], env=self.env, capture_output=True, text=True, timeout=60, cwd=REPO
        )
        assert result.returncode == 0, f"fleet {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def report(self) -> str:
        """Exit codes and log tails of every process, for a failure message."""
        return "\n".join(
            f"--- {p.name} ({'running' if p.running() else f'exited {p.popen.returncode}'})\n{p.tail()}"
            for p in self.processes
        )

    def wait_for(self, check: Callable[[], T | None], what: str, timeout: float, every: float = 0.5) -> T:
        """Poll `check` until it returns something truthy; fail with every log tail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = check()
            except (OSError, ValueError, KeyError) as error:
                value, last_error = None, error
            if value:
                return value
            time.sleep(every)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what} (last error: {last_error})\n{self.report()}"
        )

    def close(self) -> None:
        """Stop every process; none outlives the test."""
        for process in reversed(self.processes):
            process.stop()
        leftovers = [p.name for p in self.processes if p.running()]
        assert not leftovers, f"still running: {leftovers}"


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    """GET `url` and parse its JSON body (raises OSError on any HTTP or network error)."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=3) as response:
        return json.load(response)


def get_status(url: str) -> int:
    """HTTP status of GET `url`."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def binary(name: str) -> str:
    """A binary on PATH or beside the interpreter (the venv's traefik)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} not found; scripts/test.sh installs it"
    return found


# --- the test --------------------------------------------------------------------------------------------------


@pytest.fixture
def stack(tmp_path: Path, postgres: PostgresServer, mosquitto: MosquittoServer, s3: SeaweedServer) -> Iterator[Stack]:
    """An empty stack on a fresh database of the session's PostgreSQL, the session's broker and a fresh bucket."""
    database_url = postgres.create_database(f"fleet_e2e_{uuid.uuid4().hex[:8]}")
    env = {
        **os.environ,
        "FLEET_DATABASE_URL": database_url,
        "FLEET_MQTT_URL": mosquitto.url,
        "FLEET_S3_ENDPOINT_URL": s3.endpoint_url,
        "FLEET_S3_BUCKET": s3.create_bucket(),
        "FLEET_S3_REGION": REGION,
        "FLEET_S3_ACCESS_KEY_ID": s3.access_key_id,
        "FLEET_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        "FLEET_LOG_FORMAT": "json",
        "FLEET_WORKER_SILENT_AFTER_SECONDS": str(SILENT_AFTER_SECONDS),
    }
    running = Stack(tmp_path / "logs", env)
    running.log_dir.mkdir()
    try:
        yield running
    finally:
        running.close()


def test_stack_routes_scrapes_and_alerts_on_silent_buses(stack: Stack, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"e2e{run}-"
    device_ids = [f"{prefix}{n:04d}" for n in range(1, VEHICLES + 1)]

    # Administration, as an operator would do it.
    stack.run_fleet("migrate")
    token = stack.run_fleet("tenant", "create", f"e2e-{run}").strip().splitlines()[-1]
    stack.run_fleet("vehicle", "add", "--tenant", f"e2e-{run}", *device_ids)

    # Two ingest replicas in one share group, each with its own client id and health/metrics port.
    ingest_ports = [free_port(), free_port()]
    for number, port in enumerate(ingest_ports, start=1):
        stack.fleet(
            f"ingest-{number}",
            "ingest",
            FLEET_INGEST_CLIENT_ID=f"e2e-{run}-ingest-{number}",
            FLEET_INGEST_SHARE_GROUP=f"e2e{run}",
            FLEET_INGEST_HTTP_PORT=str(port),
            # Short-lived sessions: nothing stays queued on the session's broker after the test.
            FLEET_INGEST_SESSION_EXPIRY_SECONDS="30",
        )
    api_port = free_port()
    stack.fleet("api", "api", "--host", "127.0.0.1", "--port", str(api_port))
    dispatcher_port = free_port()
    stack.fleet("dispatcher", "dispatcher", FLEET_DISPATCHER_HTTP_PORT=str(dispatcher_port))
    worker_port = free_port()
    stack.fleet("worker", "worker", FLEET_WORKER_HTTP_PORT=str(worker_port))
    for port in ingest_ports:
        stack.wait_for(lambda port=port: get_status(f"http://127.0.0.1:{port}/readyz") == 200, "ingest ready", 30)
    stack.wait_for(lambda: get_status(f"http://127.0.0.1:{api_port}/readyz") == 200, "API ready", 30)
    stack.wait_for(lambda: get_status(f"http://127.0.0.1:{dispatcher_port}/readyz") == 200, "dispatcher ready", 30)
    stack.wait_for(lambda: get_status(f"http://127.0.0.1:{worker_port}/readyz") == 200, "worker ready", 30)

    # No coverage dropouts: every bus must move while the test watches.
    sim = stack.fleet(
        "sim", "sim", "--vehicles", str(VEHICLES), "--prefix", prefix, FLEET_SIM_DROPOUT_PROBABILITY_PER_MINUTE="0"
    )

    # Traefik from deploy/traefik, in front of the API.
    traefik_dir = tmp_path / "traefik"
    (traefik_dir / "dynamic").mkdir(parents=True)
    traefik_port = free_port()
    (traefik_dir / "traefik.yml").write_text(
        traefik_static(TRAEFIK_STATIC.read_text(), traefik_port, traefik_dir / "dynamic")
    )
    (traefik_dir / "dynamic" / "fleet.yml").write_text(
        traefik_dynamic(TRAEFIK_DYNAMIC.read_text(), f"http://127.0.0.1:{api_port}")
    )
    stack.start("traefik", [binary("traefik"), f"--configFile={traefik_dir / 'traefik.yml'}"])
    wait_for_port(traefik_port)
    public = f"http://127.0.0.1:{traefik_port}"

    # Prometheus from deploy/prometheus/prometheus.yml: same jobs, targets from files, rules with short `for:`.
    prometheus_dir = tmp_path / "prometheus"
    (prometheus_dir / "rules").mkdir(parents=True)
    (prometheus_dir / "targets").mkdir()
    prometheus_port = free_port()
    config = prometheus_config(PROMETHEUS_CONFIG.read_text(), INTERVAL, prometheus_dir / "targets")
    jobs = {
        "fleet-ingest": [f"127.0.0.1:{port}" for port in ingest_ports],
        "fleet-api": [f"127.0.0.1:{api_port}"],
        "fleet-dispatcher": [f"127.0.0.1:{dispatcher_port}"],
        "fleet-worker": [f"127.0.0.1:{worker_port}"],
        "prometheus": [f"127.0.0.1:{prometheus_port}"],
    }
    assert {job["job_name"] for job in config["scrape_configs"]} == set(jobs)
    for job, targets in jobs.items():
        (prometheus_dir / "targets" / f"{job}.json").write_text(json.dumps([{"targets": targets}]))
    (prometheus_dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (prometheus_dir / "rules" / "alerts.yml").write_text(shortened_alert_rules(ALERTS.read_text(), FOR))
    stack.start(
        "prometheus",
        [
            binary("prometheus"),
            f"--config.file={prometheus_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prometheus_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
    )
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    stack.wait_for(lambda: get_status(f"{prometheus}/-/ready") == 200, "Prometheus ready", 30)

    def query(promql: str) -> list[dict[str, Any]]:
        answer = get_json(f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    # Through Traefik: the five buses, with positions that change.
    def positions() -> dict[str, tuple[int, float, float]]:
        items = get_json(f"{public}/v1/live", {"Authorization": f"Bearer {token}"})["items"]
        return {
            item["device_id"]: (item["position"]["seq"], item["position"]["lat"], item["position"]["lon"])
            for item in items
            if item.get("position")
        }

    def all_buses() -> dict[str, tuple[int, float, float]] | None:
        found = positions()
        return found if set(found) == set(device_ids) else None

    first = stack.wait_for(all_buses, "5 buses in /v1/live", 30)
    stack.wait_for(
        lambda: all(now[1:] != first[d][1:] and now[0] > first[d][0] for d, now in positions().items()),
        "every bus to move",
        15,
    )
    assert get_status(f"{public}/v1/live") == 401  # the token is required through the proxy too
    assert get_status(f"{public}/readyz") == 200
    assert get_status(f"{public}/metrics") == 404  # metrics stay internal

    # Prometheus: every target up under the compose job names, ingest and API metrics queryable.
    def all_up() -> bool:
        samples = query("up")
        by_job: dict[str, int] = {}
        for sample in samples:
            if sample["value"][1] == "1":
                by_job[sample["metric"]["job"]] = by_job.get(sample["metric"]["job"], 0) + 1
        return len(samples) == sum(len(t) for t in jobs.values()) and by_job == {j: len(t) for j, t in jobs.items()}

    def value(promql: str) -> float | None:
        result = query(promql)
        return float(result[0]["value"][1]) if result else None

    stack.wait_for(all_up, "every target up in Prometheus", 30)
    stack.wait_for(lambda: (value("sum(fleet_ingest_records_total)") or 0) > 0, "ingest records in Prometheus", 30)
    stack.wait_for(
        lambda: value('max(fleet_vehicles{state="reporting"})') == VEHICLES, "the vehicle gauge in Prometheus", 30
    )

    # The buses freeze: their connections stay open, so the broker sends no last will (a SIGKILL closes the sockets,
    # and the broker publishes every bus's `offline` will at once: offline, not silent).
    # FLEET_WORKER_SILENT_AFTER_SECONDS later they count as silent, and the alert fires long before the broker's
    # keepalive timeout (45 s).
    sim.signal(signal.SIGSTOP)
    stopped = time.monotonic()

    def firing() -> set[str]:
        alerts = get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
        return {alert["labels"]["alertname"] for alert in alerts if alert["state"] == "firing"}

    stack.wait_for(lambda: "FleetVehiclesSilent" in firing(), "FleetVehiclesSilent firing", 60)
    assert time.monotonic() - stopped >= SILENT_AFTER_SECONDS
    # The buses report at their own points of the interval, so they turn silent within a reporting interval or two
    # of each other: the alert fires at the first.
    stack.wait_for(lambda: value('max(fleet_vehicles{state="silent"})') == VEHICLES, "every bus silent", 30)
    service_alerts = {
        "FleetTargetDown",
        "FleetTargetsMissing",
        "FleetIngestBrokerDisconnected",
        "FleetIngestDatabaseNotReady",
        "FleetIngestLagHigh",
    }
    assert not firing() & service_alerts, stack.report()

    # Now the crash: the sockets close, the broker publishes the wills, and the buses count as offline.
    sim.signal(signal.SIGKILL)
    stack.wait_for(
        lambda: value('max(fleet_vehicles{state="offline"})') == VEHICLES, "the wills to mark every bus offline", 30
    )
