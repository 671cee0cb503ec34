"""Fleet-scale benchmark: `fleet sim --vehicles N` reporting every 5 s into ingest, PostgreSQL and the API.

Run: `.venv/bin/python -m bench.scale_bench` (10,000 buses for 10 minutes; `--quick`: 1,000 buses for 2 minutes;
`--memory`: only the simulator's resident memory by fleet size, idle and reporting). Prints a Markdown table.

Private Mosquitto (the repo's config) and PostgreSQL, `fleet ingest` and `fleet api` as processes on their shipped
defaults, then `fleet sim` with pos and can every 5 s, no coverage drop-outs (they hold records back on purpose),
no video clips and no tachograph downloads beyond the first (nothing grants them here), incidents at a real
fleet's rates. Measured after a warm-up (2 minutes; the ramp-up is part of it), up to the end:

- publish-to-queryable latency: a sample of the buses (one in 200, at least 20) is registered to a tenant of its
  own, whose `GET /v1/live` the bench polls every POLL_S (with FLEET_API_LIVE_CACHE_SECONDS=0: the shipped second
  of answer reuse would add its own age); a position counts as queryable when the API first shows its seq, and its
  latency is that moment minus the record's `ts`, the unit's clock when it took the fix (the same machine's
  clock). So it includes the simulator's own delay, the request and up to POLL_S of polling: an upper bound.
- ts to a subscriber: the probes' positions as a plain subscriber of the broker gets them (arrival minus `ts`): the
  simulator's and the broker's share, without ingest.
- ts to ingest's batch: for every position stored in the window, `received_at - ts` from PostgreSQL (when ingest
  began writing its batch, before the commit; the whole fleet, not a sample).
- records/s stored by ingest (its `fleet_ingest_records_total{result="stored"}`), its mean batch and write time,
  the detection's recomputations, and the CPU of each process (PostgreSQL's whole cluster).
- resident memory of ingest, the API, the simulator (and Mosquitto) at the end of the warm-up and at the end.
- the connect time of the N buses: from the start of `fleet sim` until every bus's retained online status arrived.
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import text

from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from fleet.ports import free_port
from fleet.settings import IngestSettings
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.processes import FleetProcess, IngestProcess
from vehicle_sim.fleet_sim import device_id_for

# One ingest process: two in a $share group (as the chart and compose ship them) split each bus's records between
# them, so the detection sees them out of order and recomputes (docs/benchmarks.md).
INGEST_REPLICAS = 1
SHARE_GROUP = "ingest"
# How often the latency probe asks the API for its buses' latest positions.
POLL_S = 0.1
# One bus in this many is a latency probe (at least PROBES_MIN).
PROBE_EVERY = 200
PROBES_MIN = 20
REPORT_EVERY_S = 5.0
PREFIX = "scale-"
# How long the memory runs let the fleet report before sampling: past the first vehicle-unit downloads (10-120 s).
MEMORY_SETTLE_S = 130.0


@dataclass
class Sample:
    """What one process used by a moment: resident memory and CPU seconds."""

    rss: int
    cpu_s: float


@dataclass
class Snapshot:
    """The processes' samples and ingest's stored records at one moment."""

    at: float
    processes: dict[str, Sample]
    stored: float
    batches: dict[str, float]


@dataclass
class Probe:
    """Polls the probe tenant's live state and records each new position's latency."""

    api_url: str
    token: str
    measuring: threading.Event = field(default_factory=threading.Event)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _seen: dict[str, int] = field(default_factory=dict)

    def run(self) -> None:
        """Poll until `stop`."""
        request = urllib.request.Request(f"{self.api_url}/v1/live", headers={"Authorization": f"Bearer {self.token}"})
        while not self._stop.wait(POLL_S):
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    items = json.load(response)["items"]
            except OSError:
                self.errors += 1
                continue
            now = datetime.now(UTC)
            for item in items:
                position = item["position"]
                if position is None or position["seq"] == self._seen.get(item["device_id"]):
                    continue
                self._seen[item["device_id"]] = position["seq"]
                if self.measuring.is_set():
                    ts = datetime.fromisoformat(position["ts"].replace("Z", "+00:00"))
                    self.latencies_ms.append((now - ts).total_seconds() * 1000)

    def stop(self) -> None:
        """End the polling."""
        self._stop.set()


class OnlineCounter:
    """Counts the buses whose online status arrived, and when the last one did."""

    def __init__(self, port: int, vehicles: int) -> None:
        self.vehicles = vehicles
        self.online: set[str] = set()
        self.all_online_at: float | None = None
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}")
        self._client.on_connect = lambda c, *_: c.subscribe("fleet/v1/+/status", qos=1)
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if b'"online"' in message.payload:
            self.online.add(message.topic)
        if self.all_online_at is None and len(self.online) == self.vehicles:
            self.all_online_at = time.monotonic()

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


class DeliveryProbe:
    """Subscribes to the probes' positions like ingest does and records how long after its `ts` each arrived: the
    simulator's and the broker's share of the latency, without ingest."""

    def __init__(self, port: int, device_ids: list[str]) -> None:
        self.measuring = threading.Event()
        self.latencies_ms: list[float] = []
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}")
        topics = [(f"fleet/v1/{device_id}/pos", 1) for device_id in device_ids]
        self._client.on_connect = lambda c, *_: c.subscribe(topics)
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if not self.measuring.is_set():
            return
        now = datetime.now(UTC)
        body = json.loads(message.payload)
        for record in body.get("records", [body]):
            ts = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
            self.latencies_ms.append((now - ts).total_seconds() * 1000)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def sample(pid: int) -> Sample:
    """Resident memory and CPU seconds (user + system) of process `pid`."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return Sample(rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))


def cluster_cpu_s(pg: PostgresServer) -> float:
    """CPU seconds of the PostgreSQL cluster: the postmaster, its live processes and those it reaped."""
    postmaster = int((pg.dir / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(stat.parent.name), int(fields[1])
        if pid == postmaster or parent == postmaster:
            total += int(fields[11]) + int(fields[12])
            if pid == postmaster:
                total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def histogram_totals(ingest: IngestProcess) -> dict[str, float]:
    """The sums and counts of ingest's batch histograms so far (messages per batch, seconds per write), and its
    detection's recomputations."""
    status, body = ingest.get("/metrics")
    assert status == 200
    wanted = {f"fleet_ingest_{name}_{part}" for name in ("batch_messages", "write_duration_seconds")
              for part in ("sum", "count")} | {"fleet_ingest_detection_recomputed_total"}  # fmt: skip
    return {
        name: float(value) for name, _, value in (line.partition(" ") for line in body.splitlines()) if name in wanted
    }


def stored_records(ingest: IngestProcess) -> float:
    """Records ingest stored so far, all streams."""
    status, body = ingest.get("/metrics")
    assert status == 200
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("fleet_ingest_records_total{") and 'result="stored"' in line
    )


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def sim_environment(mqtt_url: str, interval: float) -> dict[str, str]:
    """The simulator's settings of a run: every `interval` s, no drop-outs, clips or repeated downloads."""
    return {
        "FLEET_MQTT_URL": mqtt_url,
        "FLEET_SIM_POS_INTERVAL_SECONDS": str(interval),
        "FLEET_SIM_CAN_INTERVAL_SECONDS": str(interval),
        "FLEET_SIM_DROPOUT_PROBABILITY_PER_MINUTE": "0",
        "FLEET_SIM_CLIPS_PER_HOUR": "0",
        "FLEET_SIM_TACHOGRAPH_VU_INTERVAL_SECONDS": str(90 * 86400),
        "FLEET_SIM_TACHOGRAPH_CARD_INTERVAL_SECONDS": str(28 * 86400),
        "FLEET_SIM_EVENT_RATE_MULTIPLIER": "1",
        "FLEET_SIM_SEED": "1",
    }


def memory_per_bus(base: Path, settle_s: float) -> None:
    """Resident memory of `fleet sim` alone, idle (reporting hourly) and every 5 s, by fleet size; print a table."""
    runs = [(1, REPORT_EVERY_S), (1_000, 3600.0), (1_000, REPORT_EVERY_S), (10_000, 3600.0), (10_000, REPORT_EVERY_S)]
    results: list[tuple[int, float, int, float]] = []
    for vehicles, interval in runs:
        broker = MosquittoServer(base / f"mem-{vehicles}-{interval:g}", max_open_files=vehicles + 1024)
        broker.start()
        online = OnlineCounter(broker.port, vehicles)
        # Connecting fast: the ramp-up is not what is measured here.
        env = {**sim_environment(broker.url, interval), "FLEET_SIM_CONNECT_RATE_PER_SECOND": "1000"}
        sim = FleetProcess(["sim", "--vehicles", str(vehicles), "--prefix", PREFIX], env, base / "mem-sim.log")
        sim.start()
        try:
            wait_until(lambda counter=online: counter.all_online_at is not None, "every bus online", timeout=120)
            time.sleep(settle_s)
            assert sim.process is not None
            rss = sample(sim.process.pid).rss
        finally:
            sim.terminate()
            online.close()
            broker.stop()
        baseline = results[0][2] if results else rss
        per_bus = (rss - baseline) / (vehicles - 1) if vehicles > 1 else float("nan")
        results.append((vehicles, interval, rss, per_bus))
    print(f"\n`fleet sim` resident memory ({datetime.now(UTC):%Y-%m-%d}, {settle_s:g} s after every bus was online)\n")
    print("| buses | reporting | RSS | per bus beyond one bus |")
    print("|---:|---|---:|---:|")
    for vehicles, interval, rss, per_bus in results:
        every = "hourly (idle)" if interval >= 3600 else f"every {interval:g} s"
        beyond = "" if vehicles == 1 else f"{per_bus / 1024:,.1f} KiB"
        print(f"| {vehicles:,} | {every} | {rss / 2**20:,.0f} MiB | {beyond} |")


def main() -> None:
    """Run the stack with the simulated fleet and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 buses for 2 minutes, 30 s warm-up")
    parser.add_argument("--memory", action="store_true", help="only the simulator's memory per bus (about 8 minutes)")
    parser.add_argument("--vehicles", type=int, help="buses (default 10,000; quick 1,000)")
    parser.add_argument("--minutes", type=float, help="length of the run (default 10; quick 2)")
    parser.add_argument("--warmup-minutes", type=float, help="measuring starts after this (default 2; quick 0.5)")
    parser.add_argument(
        "--ingest-replicas", type=int, default=INGEST_REPLICAS, help="ingest processes in one $share group (default 1)"
    )
    parser.add_argument("--interval", type=float, default=REPORT_EVERY_S, help="pos and can interval (default 5 s)")
    args = parser.parse_args()
    vehicles = args.vehicles or (1_000 if args.quick else 10_000)
    minutes = args.minutes or (2.0 if args.quick else 10.0)
    warmup = args.warmup_minutes if args.warmup_minutes is not None else (0.5 if args.quick else 2.0)

    base = Path(tempfile.mkdtemp(prefix="fleet-scale-"))
    base.chmod(0o755)
    if args.memory:
        memory_per_bus(base, MEMORY_SETTLE_S)
        shutil.rmtree(base, ignore_errors=True)
        return
    pg = PostgresServer(base / "pg")
    pg.start()
    broker = MosquittoServer(base / "mqtt", max_open_files=vehicles + 1024)
    processes: list[FleetProcess] = []
    try:
        url = pg.create_database("scale")
        upgrade(url)
        engine = make_engine(url)
        device_ids = [device_id_for(PREFIX, n) for n in range(1, vehicles + 1)]
        step = min(PROBE_EVERY, max(1, vehicles // PROBES_MIN))
        probes = device_ids[::step]
        probing = set(probes)
        seed_tenant(engine, "fleet", [d for d in device_ids if d not in probing])
        probe_tenant = seed_tenant(engine, "probe", probes)
        broker.start()

        # The shipped batching, not the tests' shorter one.
        batching = {"FLEET_INGEST_BATCH_MAX_SECONDS": str(IngestSettings.model_fields["batch_max_seconds"].default)}
        group = SHARE_GROUP if args.ingest_replicas > 1 else ""
        ingests = [
            IngestProcess(url, broker.url, f"scale-ingest-{n}", group, base, batching)
            for n in range(1, args.ingest_replicas + 1)
        ]
        processes.extend(replica.start_ready() for replica in ingests)
        api_port = free_port()
        # No reuse of /v1/live answers (the API keeps one per tenant for a second by default): the probe measures
        # when a position can be read, not how old a dashboard lets its map be.
        api_env = {"FLEET_DATABASE_URL": url, "FLEET_MQTT_URL": broker.url, "FLEET_API_LIVE_CACHE_SECONDS": "0"}
        api = FleetProcess(["api", "--host", "127.0.0.1", "--port", str(api_port)], api_env, base / "api.log")
        processes.append(api.start())
        probe = Probe(f"http://127.0.0.1:{api_port}", probe_tenant.token)
        wait_until(lambda: _answers(probe), "the API answering", timeout=30)

        online = OnlineCounter(broker.port, vehicles)
        delivery = DeliveryProbe(broker.port, probes)
        sim_env = sim_environment(broker.url, args.interval)
        sim = FleetProcess(["sim", "--vehicles", str(vehicles), "--prefix", PREFIX], sim_env, base / "sim.log")
        sim_started = time.monotonic()
        processes.append(sim.start())
        poller = threading.Thread(target=probe.run, daemon=True)
        poller.start()

        def snapshot() -> Snapshot:
            named = {**{f"ingest-{n}": p for n, p in enumerate(ingests, start=1)}, "api": api, "sim": sim}
            samples = {name: sample(p.process.pid) for name, p in named.items() if p.process is not None}
            if broker.process is not None:
                samples["mosquitto"] = sample(broker.process.pid)
            samples["postgresql"] = Sample(0, cluster_cpu_s(pg))
            totals = [histogram_totals(replica) for replica in ingests]
            batches = {name: sum(t[name] for t in totals) for name in totals[0]}
            return Snapshot(time.monotonic(), samples, sum(stored_records(replica) for replica in ingests), batches)

        time.sleep(max(0.0, sim_started + warmup * 60 - time.monotonic()))
        first = snapshot()
        measured_from = datetime.now(UTC)
        probe.measuring.set()
        delivery.measuring.set()
        time.sleep(max(0.0, sim_started + minutes * 60 - time.monotonic()))
        probe.measuring.clear()
        delivery.measuring.clear()
        last = snapshot()
        measured_to = datetime.now(UTC)
        probe.stop()
        poller.join(timeout=10)
        stopping = time.monotonic()
        sim.terminate()
        sim_stop_s = time.monotonic() - stopping
        online.close()
        delivery.close()
        with engine.connect() as connection:
            to_batch = connection.execute(
                text(
                    "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY"
                    " extract(epoch FROM received_at - ts)) FROM positions WHERE received_at BETWEEN :a AND :b"
                ),
                {"a": measured_from, "b": measured_to},
            ).scalar_one()
    finally:
        for process in reversed(processes):
            process.terminate()
        broker.stop()
        pg.stop("immediate")

    batch_count = last.batches["fleet_ingest_batch_messages_count"] - first.batches["fleet_ingest_batch_messages_count"]
    batch_messages = (
        last.batches["fleet_ingest_batch_messages_sum"] - first.batches["fleet_ingest_batch_messages_sum"]
    ) / batch_count
    batch_write_ms = (
        1000
        * (
            last.batches["fleet_ingest_write_duration_seconds_sum"]
            - first.batches["fleet_ingest_write_duration_seconds_sum"]
        )
        / batch_count
    )
    recomputed = (
        last.batches["fleet_ingest_detection_recomputed_total"]
        - first.batches["fleet_ingest_detection_recomputed_total"]
    )
    connect_s = online.all_online_at - sim_started if online.all_online_at else float("nan")
    window = last.at - first.at
    rows = [
        ("buses", f"{vehicles:,}", "", f"pos and can every {args.interval:g} s, {len(probes)} of them probes"),
        ("all buses online", f"{connect_s:.1f}", "s", "from the start of `fleet sim`: building the buses, ramp-up"),
        ("connect rate", f"{vehicles / connect_s:,.0f}", "buses/s", "FLEET_SIM_CONNECT_RATE_PER_SECOND paces it"),
        ("records stored", f"{(last.stored - first.stored) / window:,.0f}", "records/s", "all streams"),
        (
            "publish-to-queryable p50",
            f"{statistics.median(probe.latencies_ms):,.0f}",
            "ms",
            f"{len(probe.latencies_ms):,} positions seen through GET /v1/live, polled every {POLL_S * 1000:.0f} ms",
        ),
        ("publish-to-queryable p99", f"{percentile(probe.latencies_ms, 0.99):,.0f}", "ms", "target <= 1,000 ms"),
        (
            "ts to a subscriber p50",
            f"{statistics.median(delivery.latencies_ms):,.0f}",
            "ms",
            "the probes' positions, subscribed as ingest does: the simulator and the broker",
        ),
        ("ts to a subscriber p99", f"{percentile(delivery.latencies_ms, 0.99):,.0f}", "ms", ""),
        ("ts to ingest's batch p50", f"{to_batch[0] * 1000:,.0f}", "ms", "every position stored in the window"),
        ("ts to ingest's batch p99", f"{to_batch[1] * 1000:,.0f}", "ms", "before the commit"),
        ("ingest batch size", f"{batch_messages:,.0f}", "messages", "mean over the window"),
        ("ingest batch write", f"{batch_write_ms:,.0f}", "ms", "mean time to write and commit a batch"),
        ("detection recomputed", f"{recomputed:,.0f}", "vehicles", "from before a record that came out of order"),
    ]
    for name in (*(f"ingest-{n}" for n in range(1, len(ingests) + 1)), "api", "sim", "mosquitto"):
        before, after = first.processes[name], last.processes[name]
        growth = after.rss / before.rss - 1
        rows.append(
            (
                f"{name} resident memory",
                f"{before.rss / 2**20:,.0f} -> {after.rss / 2**20:,.0f}",
                "MiB",
                f"{growth:+.1%} from minute {warmup:g} to {minutes:g}"
                + (" (target < +10%)" if name != "mosquitto" else ""),
            )
        )
        rows.append((f"{name} CPU", f"{(after.cpu_s - before.cpu_s) / window:.2f}", "cores", "over the window"))
    postgresql = (last.processes["postgresql"].cpu_s - first.processes["postgresql"].cpu_s) / window
    rows.append(("postgresql CPU", f"{postgresql:.2f}", "cores", "over the window, every process of the cluster"))
    rows.append(
        ("simulator memory per bus", f"{first.processes['sim'].rss / vehicles / 1024:,.1f}", "KiB", "RSS / buses")
    )
    rows.append(("simulator clean stop", f"{sim_stop_s:.1f}", "s", "SIGTERM to exit: offline statuses, DISCONNECTs"))
    print(
        f"\nfleet scale benchmark ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, {vehicles:,} buses, "
        f"{minutes:g} minutes, measured from minute {warmup:g}; probe polling errors: {probe.errors})\n"
    )
    print("| measurement | value | unit | note |")
    print("|---|---:|---|---|")
    for name, value, unit, note in rows:
        print(f"| {name} | {value} | {unit} | {note} |")
    shutil.rmtree(base, ignore_errors=True)


def _answers(probe: Probe) -> bool:
    request = urllib.request.Request(f"{probe.api_url}/v1/live", headers={"Authorization": f"Bearer {probe.token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    main()
