"""End-to-end ingest benchmark: real Mosquitto, real PostgreSQL, `fleet ingest` processes.

Run: `.venv/bin/python -m bench.ingest_bench` (add `--quick` for a smaller run). Prints a Markdown table.

Throughput is measured by draining a backlog: the consumer's persistent session is created, the consumer
stops, the backlog is published, then the consumer is timed from process start until every record is
stored, so the publisher's CPU is not in the figure. Every figure has references measured in the same run:
the broker's delivery rate to bare subscribers (mosquitto_sub in C, and paho), a plain COPY of the same
rows (the database ceiling), and a naive consumer that inserts and commits per message.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from sqlalchemy import Engine, text

from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from tests.fixtures.factories import seed_tenant
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.processes import IngestProcess

DEVICES = 100
PUBLISH_WINDOW = 20_000


@dataclass
class Row:
    """One line of the result table."""

    name: str
    unit: str
    value: float
    reference: str = ""


class Bench:
    """Owns the private servers and the tenant for one run."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.pg = PostgresServer(base / "pg")
        self.pg.start()
        self.run = 0
        self.broker = MosquittoServer(base / "mqtt0")
        self.broker.start()

    def fresh_broker(self) -> None:
        """A new empty broker: the previous measurement's persistent sessions would queue every message of the
        next one, and the broker's snapshot of that growing queue stalls it (docs/reliability.md)."""
        self.broker.stop()
        self.run += 1
        self.broker = MosquittoServer(self.base / f"mqtt{self.run}")
        self.broker.start()

    def fresh_database(self) -> tuple[str, Engine, list[str]]:
        """A new broker and an empty migrated database with DEVICES registered devices."""
        self.fresh_broker()
        url = self.pg.create_database(f"bench{self.run}")
        upgrade(url)
        engine = make_engine(url)
        devices = [f"b{self.run}-{i:03d}" for i in range(DEVICES)]
        seed_tenant(engine, f"bench{self.run}", devices)
        return url, engine, devices

    def close(self) -> None:
        """Stop the servers."""
        self.broker.stop()
        self.pg.stop("immediate")


def payloads(devices: list[str], messages: int, records_per_message: int) -> list[tuple[str, bytes]]:
    """Position messages spread over the devices, each record with a distinct (device, ts)."""
    start = datetime.now(UTC) - timedelta(hours=2)
    out = []
    for n in range(messages):
        device = devices[n % len(devices)]
        base_seq = (n // len(devices)) * records_per_message
        records = [
            {
                "ts": (start + timedelta(milliseconds=10 * (base_seq + k))).isoformat(),
                "seq": base_seq + k,
                "lat": 52.52 + k * 1e-5,
                "lon": 13.40 + (n % 1000) * 1e-5,
                "speed_kmh": 32.5,
                "heading_deg": 90.0,
            }
            for k in range(records_per_message)
        ]
        body = records[0] if records_per_message == 1 else {"records": records}
        out.append((f"fleet/v1/{device}/pos", json.dumps(body, separators=(",", ":")).encode()))
    return out


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish QoS 1 as fast as the broker acknowledges."""
    client_id = f"pub-{uuid.uuid4().hex[:6]}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    # Packet ids are 16-bit: keep fewer than 65,535 publishes outstanding.
    for start in range(0, len(messages), PUBLISH_WINDOW):
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages[start : start + PUBLISH_WINDOW]]
        for info in infos:
            info.wait_for_publish(timeout=120)
    client.disconnect()
    client.loop_stop()


def count_positions(engine: Engine) -> int:
    """Stored position rows."""
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM positions")).scalar_one())


def wait_for_rows(engine: Engine, expected: int, timeout: float = 600) -> float:
    """Monotonic time when `expected` rows are stored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_positions(engine) >= expected:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"only {count_positions(engine)} of {expected} rows stored")


@dataclass
class Drain:
    """A timed drain: records per second from process start, and the start-up time within it."""

    rate: float
    startup: float


def ingest_drain(bench: Bench, messages: int, per_message: int, workers: int, detection: bool = True) -> Drain:
    """`workers` ingest processes draining a backlog, timed from their start until every record is stored."""
    url, engine, devices = bench.fresh_database()
    group = f"g{bench.run}" if workers > 1 else ""
    env = {"FLEET_INGEST_DETECTION": "true" if detection else "false"}
    processes = [
        IngestProcess(url, bench.broker.url, f"bench-{bench.run}-{w}", group, bench.base, env) for w in range(workers)
    ]
    for process in processes:  # create the persistent sessions, then go offline
        process.start_ready()
    for process in processes:
        process.terminate()
    publish(bench.broker.port, payloads(devices, messages, per_message))
    started = time.monotonic()
    for process in processes:
        process.start()
    first_stored = wait_for_rows(engine, 1)
    finished = wait_for_rows(engine, messages * per_message)
    for process in processes:
        process.terminate()
    assert_exact(engine, messages * per_message)
    engine.dispose()
    return Drain(messages * per_message / (finished - started), first_stored - started)


def assert_exact(engine: Engine, expected: int) -> None:
    """Nothing lost, nothing duplicated (the key makes duplicates impossible; count the distinct pairs)."""
    with engine.connect() as connection:
        total, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT (vehicle_id, seq)) FROM positions")
        ).one()
    if total != expected or distinct != expected:
        raise RuntimeError(f"stored {total} rows ({distinct} distinct), expected {expected}")


def c_subscriber_drain(bench: Bench, messages: int) -> float:
    """Messages per second mosquitto delivers to mosquitto_sub (QoS 1, persistent session)."""
    bench.fresh_broker()
    client_id, topic = f"csub-{uuid.uuid4().hex[:6]}", f"bench/c/{uuid.uuid4().hex[:6]}/+"
    base_args = ["mosquitto_sub", "-p", str(bench.broker.port), "-q", "1", "-c", "-i", client_id, "-t", topic]
    subprocess.run([*base_args, "-W", "1"], capture_output=True, check=False)
    publish(bench.broker.port, [(topic.replace("+", "x"), b'{"x":1}') for _ in range(messages)])
    started = time.monotonic()
    subprocess.run([*base_args, "-C", str(messages)], capture_output=True, check=True, timeout=600)
    return messages / (time.monotonic() - started)


def subscriber(
    port: int, client_id: str, topic: str, on_message: Callable[[mqtt.Client, object, mqtt.MQTTMessage], None]
) -> mqtt.Client:
    """A bare paho client with a persistent session (MQTT 3.1.1, automatic acks), subscribed QoS 1."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    return client


def subscriber_drain(
    port: int, topic: str, backlog: list[tuple[str, bytes]], handle: Callable[[mqtt.MQTTMessage], None]
) -> float:
    """Messages per second a paho subscriber drains `backlog`, published while its session was offline."""
    client_id = f"sub-{uuid.uuid4().hex[:6]}"
    done = threading.Event()
    count = [0]

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        handle(message)
        count[0] += 1
        if count[0] == len(backlog):
            done.set()

    first = subscriber(port, client_id, topic, lambda _c, _u, _m: None)
    first.loop(1)
    first.disconnect()
    publish(port, backlog)
    started = time.monotonic()
    client = subscriber(port, client_id, topic, on_message)
    client.loop_start()
    done.wait(600)
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    return len(backlog) / elapsed


def paho_subscriber_drain(bench: Bench, messages: int) -> float:
    """Messages per second a bare paho subscriber (automatic acks) drains."""
    bench.fresh_broker()
    topic = f"bench/p/{uuid.uuid4().hex[:6]}"
    return subscriber_drain(bench.broker.port, topic, [(topic, b'{"x":1}')] * messages, lambda _m: None)


def one_partition(engine: Engine) -> None:
    """A single partition for every timestamp, so the references pay no partition routing or creation."""
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE positions_p_all PARTITION OF positions FOR VALUES FROM ('2000-01-01') TO ('2100-01-01')")
        )


def conninfo(url: str) -> str:
    """The libpq address of a SQLAlchemy URL, for plain psycopg."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def copy_ceiling(bench: Bench, rows: int) -> float:
    """Rows per second of a plain COPY into the positions table."""
    url, engine, _ = bench.fresh_database()
    one_partition(engine)
    engine.dispose()
    start = datetime.now(UTC)
    data = [(1 + n % DEVICES, start + timedelta(milliseconds=n), n, 52.5, 13.4, 32.5, 90.0, start) for n in range(rows)]
    with psycopg.connect(conninfo(url)) as connection:
        started = time.monotonic()
        with (
            connection.cursor() as cursor,
            cursor.copy(
                "COPY positions (vehicle_id, ts, seq, lat, lon, speed_kmh, heading_deg, received_at) FROM STDIN"
            ) as copy,
        ):
            for row in data:
                copy.write_row(row)
        connection.commit()
        return rows / (time.monotonic() - started)


def naive_consumer(bench: Bench, messages: int) -> float:
    """Messages per second of a consumer that INSERTs and COMMITs per message (the usual first attempt)."""
    url, engine, devices = bench.fresh_database()
    one_partition(engine)
    with engine.connect() as connection:
        ids = dict(connection.execute(text("SELECT device_id, id FROM vehicles")).all())
    engine.dispose()

    with psycopg.connect(conninfo(url)) as database:

        def insert(message: mqtt.MQTTMessage) -> None:
            record = json.loads(message.payload)
            database.execute(
                "INSERT INTO positions (vehicle_id, ts, seq, lat, lon, received_at) "
                "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT DO NOTHING",
                (ids[message.topic.split("/")[2]], record["ts"], record["seq"], record["lat"], record["lon"]),
            )
            database.commit()

        return subscriber_drain(bench.broker.port, "fleet/v1/+/pos", payloads(devices, messages, 1), insert)


def latency(bench: Bench, rate: float, seconds: float) -> tuple[float, float, float]:
    """p50/p99 publish-to-queryable latency in ms at a steady rate, and the rate achieved."""
    url, engine, devices = bench.fresh_database()
    ingest = IngestProcess(url, bench.broker.url, f"lat-{bench.run}", "", bench.base).start_ready()
    messages = payloads(devices, int(rate * seconds), 1)
    published_at: list[float] = [0.0] * len(messages)
    visible_at: list[float] = [0.0] * len(messages)
    stop = threading.Event()
    vehicle_ids: dict[str, int] = {}
    with engine.connect() as connection:
        vehicle_ids = dict(connection.execute(text("SELECT device_id, id FROM vehicles")).all())
    index_of = {(vehicle_ids[t.split("/")[2]], json.loads(p)["seq"]): i for i, (t, p) in enumerate(messages)}

    def poll() -> None:
        seen: dict[int, int] = {}
        with psycopg.connect(conninfo(url), autocommit=True) as db:
            while not stop.is_set():
                now = time.monotonic()
                for vehicle_id, max_seq in db.execute("SELECT vehicle_id, max(seq) FROM positions GROUP BY 1"):
                    for seq in range(seen.get(vehicle_id, -1) + 1, max_seq + 1):
                        i = index_of.get((vehicle_id, seq))
                        if i is not None:
                            visible_at[i] = now
                    seen[vehicle_id] = max_seq
                time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"latpub-{bench.run}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", bench.broker.port)
    client.loop_start()
    started = time.monotonic()
    for i, (topic, payload) in enumerate(messages):
        lag = started + i / rate - time.monotonic()
        if lag > 0:
            time.sleep(lag)
        published_at[i] = time.monotonic()
        client.publish(topic, payload, qos=1)
    achieved = len(messages) / (time.monotonic() - started)
    wait_for_rows(engine, len(messages), timeout=120)
    time.sleep(0.1)
    stop.set()
    poller.join()
    client.disconnect()
    client.loop_stop()
    ingest.terminate()
    latencies = sorted((v - p) * 1000 for v, p in zip(visible_at, published_at, strict=True) if v)
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return p50, p99, achieved


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller backlogs (about a minute)")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    single = int(100_000 * scale)
    # Backlogs that take ingest about equally long (5 s) to drain, so its start-up weighs alike in both figures.
    batched = int(30_000 * scale)
    base = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    base.chmod(0o755)
    bench = Bench(base)
    try:
        c_rate = c_subscriber_drain(bench, single)
        paho_rate = paho_subscriber_drain(bench, single)
        copy_rate = copy_ceiling(bench, single)
        naive_rate = naive_consumer(bench, int(10_000 * scale))
        one_single = ingest_drain(bench, single, 1, 1)
        undetected_single = ingest_drain(bench, single, 1, 1, detection=False)
        two_single = ingest_drain(bench, single, 1, 2)
        one_batched = ingest_drain(bench, batched, 10, 1)
        undetected_batched = ingest_drain(bench, batched, 10, 1, detection=False)
        two_batched = ingest_drain(bench, batched, 10, 2)
        p50, p99, achieved = latency(bench, 5000, 10 * scale if args.quick else 10)
    finally:
        bench.close()
        shutil.rmtree(base, ignore_errors=True)
    rows = [
        Row("reference: mosquitto_sub (C) drain", "msg/s", c_rate),
        Row("reference: bare paho subscriber drain", "msg/s", paho_rate),
        Row("reference: plain COPY into positions", "rows/s", copy_rate),
        Row("reference: naive consumer (INSERT+COMMIT per message)", "msg/s", naive_rate),
        Row(
            "ingest, 1 process, single-record messages",
            "msg/s",
            one_single.rate,
            f"{one_single.rate / paho_rate:.2f}x paho, {one_single.rate / naive_rate:.1f}x naive (target 15,000)",
        ),
        Row(
            "ingest without detection (FLEET_INGEST_DETECTION=false), 1 process, single-record messages",
            "msg/s",
            undetected_single.rate,
            f"detection costs {1 - one_single.rate / undetected_single.rate:.0%} of this rate",
        ),
        Row(
            "ingest, 2 processes ($share), single-record messages",
            "msg/s",
            two_single.rate,
            f"{two_single.rate / one_single.rate:.2f}x one process (target 22,000)",
        ),
        Row(
            "ingest, 1 process, 10-record batches",
            "records/s",
            one_batched.rate,
            f"{one_batched.rate / copy_rate:.2f}x COPY, {one_batched.rate / naive_rate:.1f}x naive (target 60,000)",
        ),
        Row(
            "ingest without detection, 1 process, 10-record batches",
            "records/s",
            undetected_batched.rate,
            f"detection costs {1 - one_batched.rate / undetected_batched.rate:.0%} of this rate",
        ),
        Row(
            "ingest, 2 processes ($share), 10-record batches",
            "records/s",
            two_batched.rate,
            f"{two_batched.rate / copy_rate:.2f}x COPY, {two_batched.rate / naive_rate:.1f}x naive (target 90,000)",
        ),
        Row(
            "ingest start-up within those figures (process start to first stored record)",
            "ms",
            1000 * statistics.median(d.startup for d in (one_single, two_single, one_batched, two_batched)),
            "median of the four drains",
        ),
        Row(f"publish-to-queryable latency p50 at {achieved:,.0f} msg/s", "ms", p50),
        Row(f"publish-to-queryable latency p99 at {achieved:,.0f} msg/s", "ms", p99, "target <= 250 ms"),
    ]
    print(
        f"\nfleet ingest benchmark ({datetime.now(UTC):%Y-%m-%d}, {'quick' if args.quick else 'full'} run; "
        f"{single:,} single-record / {batched:,} batch messages; nothing lost or duplicated in any run)\n"
    )
    print("| measurement | value | unit | beside the references |")
    print("|---|---:|---|---|")
    for row in rows:
        print(f"| {row.name} | {row.value:,.0f} | {row.unit} | {row.reference} |")


if __name__ == "__main__":
    main()
