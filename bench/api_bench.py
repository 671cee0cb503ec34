"""API benchmark: the read endpoints beside a bare psycopg + orjson server, and the mixed read load beside the
reference commit's API, in one run on one PostgreSQL with the same data.

Run: `.venv/bin/python -m bench.api_bench` (about 4 minutes; `--quick` for about a minute and a half;
`--baseline REV` to compare with another commit than REFERENCE, the one before issue 14's work). Prints a Markdown
table. Every API process is `fleet api` with one worker (FLEET_API_WORKERS=1), the default admission limit
(FLEET_API_MAX_CONCURRENT_REQUESTS=8), pool and statement timeout, and a rate limit out of the way
(FLEET_API_RATE_LIMIT_PER_MINUTE=1000000: the default 1,200 a minute per token would cap the load at 20/s).

Data, seeded straight into a private PostgreSQL with COPY (faster and more reproducible than simulated buses): a
tenant of 250 vehicles, each with its latest state, TRACKED of them with yesterday's positions at 1 Hz (a
dashboard's windows are recent), and a tenant of 1,000 vehicles with their latest state.

- **Single requests** (one client, keep-alive, medians over interleaved rounds): a one-hour track (3,600 points,
  `limit=10000`) and `/v1/live` of the 1,000 vehicles, through HTTP, beside a bare server: a raw ASGI app under the
  same uvicorn that runs the same SQL with plain psycopg and writes the same bytes with orjson (checked equal), so
  the ratio is what fleet adds to the query and its serialisation: authentication, the vehicle lookup,
  transactions, the framework.
- **Mixed load** (40% `/v1/live` of 250 vehicles, 30% one vehicle, 20% one-hour tracks, 10% the vehicle list): a
  closed loop of CLIENTS clients, each sending its next request when the last is answered, so as many are in flight
  as the admission limit admits; the figure is the answers per second over the round, with no answer other than 200
  allowed. The reference commit's API runs from a `git worktree` (same venv, PYTHONPATH at the worktree) beside the
  working tree's, rounds interleaved, the same request sequence for both; the load generator speaks raw HTTP/1.1 on
  asyncio streams so that its own cost stays small beside the API's.
"""

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import psycopg
from sqlalchemy import Engine, text

from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from fleet.db.partitions import ensure_partitions
from fleet.doors import unpack_doors
from fleet.ports import free_port
from tests.fixtures.factories import seed_tenant
from tests.fixtures.postgres import PostgresServer

# The commit before issue 14's work: the mixed load's reference unless --baseline names another.
REFERENCE = "5ad5d58512f756562eaec261a6e30227c909ba5d"
ROOT = Path(__file__).resolve().parents[1]
SECONDS_PER_DAY = 86_400
MIXED_VEHICLES, LIVE_VEHICLES = 250, 1_000
# As many clients as the default admission limit admits: every request is answered, none shed.
CLIENTS = 8
API_ENV = {
    "FLEET_API_WORKERS": "1",
    "FLEET_API_MAX_CONCURRENT_REQUESTS": "8",
    "FLEET_API_RATE_LIMIT_PER_MINUTE": "1000000",
}
ORJSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@dataclass(frozen=True)
class BenchTenant:
    """A seeded tenant: its token, its device ids, and those with a day of positions."""

    token: str
    device_ids: list[str]
    tracked: list[str]


def conninfo(url: str) -> str:
    """The libpq address of a SQLAlchemy URL, for plain psycopg."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def seed(engine: Engine, url: str, name: str, vehicles: int, tracked: int, start: datetime) -> BenchTenant:
    """A tenant with `vehicles` vehicles, each with a latest state, and the day from `start` of positions for
    `tracked` of them."""
    device_ids = [f"{name}-{n:04d}" for n in range(vehicles)]
    tenant = seed_tenant(engine, name, device_ids)
    with engine.begin() as connection:
        ensure_partitions(connection, "positions", [start.date()])
    with psycopg.connect(conninfo(url)) as connection:
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM vehicles WHERE tenant_id = %s ORDER BY device_id", (tenant.id,)
            )
        ]
        rng = random.Random(name)
        _copy_states(connection, ids, rng, start + timedelta(days=1))
        _copy_positions(connection, ids[:tracked], rng, start)
        connection.commit()
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return BenchTenant(tenant.token, device_ids, device_ids[:tracked])


def _copy_states(connection: psycopg.Connection, ids: list[int], rng: random.Random, end: datetime) -> None:
    """One vehicle_state row per vehicle, from just before `end`; a tenth without CAN values and a tenth never
    online, for the nulls."""
    columns = (
        "vehicle_id, pos_ts, pos_seq, lat, lon, speed_kmh, heading_deg, can_ts, can_seq, fuel_level_pct, "
        "distance_total_km, passenger_count, battery_soc_pct, doors_open_mask, door_count, status_ts, status_seq, "
        "online, updated_at"
    )
    with connection.cursor() as cursor, cursor.copy(f"COPY vehicle_state ({columns}) FROM STDIN") as copy:
        for n, vehicle_id in enumerate(ids):
            ts = end - timedelta(seconds=rng.uniform(0, 30), microseconds=rng.randrange(1_000_000))
            position = (ts, n * 10, round(52.4 + rng.uniform(0, 0.2), 6), round(13.3 + rng.uniform(0, 0.2), 6))
            motion = (round(rng.uniform(0, 60), 1), None if n % 7 == 0 else round(rng.uniform(0, 360), 1))
            fuel, distance = round(rng.uniform(5, 100), 1), round(rng.uniform(1e4, 9e5), 1)
            soc = None if n % 5 == 0 else round(rng.uniform(0, 100), 1)
            passengers, doors = rng.randrange(80), rng.randrange(8)
            can = (None,) * 8 if n % 10 == 3 else (ts, n * 10 + 1, fuel, distance, passengers, soc, doors, 3)
            status = (None, None, None) if n % 10 == 6 else (ts, n * 10 + 2, n % 4 != 0)
            copy.write_row((vehicle_id, *position, *motion, *can, *status, ts))


def _copy_positions(connection: psycopg.Connection, ids: list[int], rng: random.Random, start: datetime) -> None:
    """A day of 1 Hz fixes from `start` for each vehicle: a bus driving, each fix a few metres from the last."""
    columns = "vehicle_id, ts, seq, lat, lon, speed_kmh, heading_deg, alt_m, sats, hdop, received_at"
    with connection.cursor() as cursor, cursor.copy(f"COPY positions ({columns}) FROM STDIN") as copy:
        for vehicle_id in ids:
            lat, lon, speed, heading = 52.4 + rng.uniform(0, 0.2), 13.3 + rng.uniform(0, 0.2), 30.0, 90.0
            for second in range(SECONDS_PER_DAY):
                ts = start + timedelta(seconds=second, milliseconds=rng.randrange(1000))
                speed = min(80.0, max(0.0, speed + rng.gauss(0, 3)))
                heading = (heading + rng.gauss(0, 10)) % 360
                lat, lon = lat + rng.gauss(0, 5e-5), lon + rng.gauss(0, 8e-5)
                alt = None if second % 97 == 0 else round(34 + rng.gauss(0, 2), 1)
                fix = (round(lat, 6), round(lon, 6), round(speed, 1), round(heading, 1), alt)
                copy.write_row((vehicle_id, ts, second, *fix, rng.randint(6, 14), round(rng.uniform(0.6, 2.5), 1), ts))


# The bare reference: the same SQL as the API's (its ORDER BY on the key's column, its UTC conversion), plain psycopg
# on one connection, the rows as dicts, orjson.
TRACK_SQL = (
    "SELECT timezone('UTC', p.ts) AS ts, p.seq, p.lat, p.lon, p.speed_kmh, p.heading_deg, p.alt_m, p.sats, p.hdop "
    "FROM positions p WHERE p.vehicle_id = %s AND p.ts >= %s AND p.ts < %s ORDER BY p.ts, p.seq LIMIT %s"
)
LIVE_SQL = (
    "SELECT v.device_id, v.label, s.online, timezone('UTC', s.status_ts), timezone('UTC', s.pos_ts), s.pos_seq, "
    "s.lat, s.lon, s.speed_kmh, s.heading_deg, timezone('UTC', s.can_ts), s.fuel_level_pct, s.distance_total_km, "
    "s.passenger_count, s.battery_soc_pct, s.doors_open_mask, s.door_count "
    "FROM vehicles v JOIN vehicle_state s ON s.vehicle_id = v.id WHERE v.tenant_id = %s ORDER BY v.device_id"
)
TRACK_KEYS = ("ts", "seq", "lat", "lon", "speed_kmh", "heading_deg", "alt_m", "sats", "hdop")


def live_item(row: Sequence[Any]) -> dict[str, Any]:
    """One vehicle of /v1/live from a row of LIVE_SQL."""
    device_id, label, online, status_ts, pos_ts, seq, lat, lon, speed, heading = row[:10]
    can_ts, fuel, distance, passengers, soc, mask, doors = row[10:]
    position = None
    if pos_ts is not None:
        position = {"ts": pos_ts, "seq": seq or 0, "lat": lat, "lon": lon, "speed_kmh": speed, "heading_deg": heading}
    can = None
    if can_ts is not None:
        can = {
            "ts": can_ts,
            "fuel_level_pct": fuel,
            "distance_total_km": distance,
            "passenger_count": passengers,
            "battery_soc_pct": soc,
            "doors_open": unpack_doors(mask, doors),
        }
    return {"device_id": device_id, "label": label, "online": online, "position": position, "can": can,
            "status_ts": status_ts}  # fmt: skip


class BareApp:
    """A raw ASGI app: `/track?vehicle_id=&since=&until=&limit=` (`&binary=1`: rows in the binary format) and
    `/live?tenant_id=`, answered on the loop."""

    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(conninfo(url), autocommit=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        query = {name: values[0] for name, values in parse_qs(scope["query_string"].decode()).items()}
        if scope["path"] == "/track":
            arguments = (int(query["vehicle_id"]), query["since"], query["until"], int(query["limit"]) + 1)
            cursor = self.connection.execute(TRACK_SQL, arguments)
            rows = cursor.fetchall()
            body = {
                "items": [dict(zip(TRACK_KEYS, row, strict=False)) for row in rows],
                "next": None,
                "archived": False,
            }
        else:
            rows = self.connection.execute(LIVE_SQL, (int(query["tenant_id"]),)).fetchall()
            body = {"items": [live_item(row) for row in rows]}
        content = orjson.dumps(body, option=ORJSON_OPTIONS)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def serve_bare(port: int, url: str) -> None:
    """Serve the bare reference on `port` until killed, under uvicorn with the API's defaults."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(BareApp(url), host="127.0.0.1", port=port, log_level="warning")).run()


class Client:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol: small beside the server's cost."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        # The status line and headers of the last answer.
        self.head = b""

    async def get(self, request: bytes) -> tuple[int, bytes]:
        """Status and body of one prepared request."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(request)
        head = self.head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        if b"connection: close" in head.lower():
            self.writer.close()
            self.writer = None
        return int(head[9:12]), body

    def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()


def request(path: str, token: str | None = None) -> bytes:
    """A GET as the load sends it."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


class Server:
    """One server process: `fleet api` from a source tree, or the bare reference."""

    def __init__(self, name: str, args: list[str], root: Path, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.root = root
        self.env = {**os.environ, **env, "PYTHONPATH": str(root)}
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, *args, "--port", str(self.port)],
            cwd=root,
            env=self.env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str) -> None:
        """Wait until `path` answers."""
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"{self.name} exited:\n{self.log.read_text()[-3000:]}"
            try:
                status, _ = asyncio.run(Client(self.port).get(request(path)))
                if status < 500:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{self.name} did not start:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the process."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def api_server(name: str, root: Path, url: str, base: Path, **settings: str) -> Server:
    """`fleet api` from the source tree at `root` with API_ENV and `settings`, checked to import its code from
    there."""
    env = {**API_ENV, **settings, "FLEET_DATABASE_URL": url, "FLEET_DATA_DIR": str(base / f"data-{name}")}
    where = subprocess.run(
        [sys.executable, "-c", "import api; print(api.__file__)"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(root), f"{name}: api imported from {where}, not from {root}"
    server = Server(name, ["-m", "cli", "api"], root, env, base / f"{name}.log")
    server.wait_ready("/healthz")
    return server


async def sequential(port: int, prepared: bytes, count: int) -> list[float]:
    """Milliseconds of `count` requests, one after the other on one connection."""
    client = Client(port)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            status, body = await client.get(prepared)
            times.append((time.perf_counter() - started) * 1000)
            assert status == 200, body[:300]
    finally:
        client.close()
    return times


@dataclass
class Load:
    """A closed-loop round: answers per second, latency percentiles, answers other than 200."""

    rate: float
    p50_ms: float
    p99_ms: float
    failures: int


async def closed_loop(port: int, requests: list[bytes], clients: int, seconds: float) -> Load:
    """`clients` connections, each sending its next request of `requests` (from its own offset) when the last is
    answered, for `seconds`."""
    times: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def run(offset: int) -> None:
        nonlocal failures
        client = Client(port)
        n = offset
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status, _ = await client.get(requests[n % len(requests)])
                times.append(time.perf_counter() - started)
                failures += status != 200
                n += 1
        finally:
            client.close()

    started = time.perf_counter()
    await asyncio.gather(*(run(i * len(requests) // clients) for i in range(clients)))
    elapsed = time.perf_counter() - started
    times.sort()
    return Load(
        rate=(len(times) - failures) / elapsed,
        p50_ms=1000 * times[len(times) // 2],
        p99_ms=1000 * times[min(len(times) - 1, int(len(times) * 0.99))],
        failures=failures,
    )


def mixed_requests(mixed: BenchTenant, start: datetime, count: int) -> list[bytes]:
    """The mixed read load's sequence: 40% live, 30% one vehicle, 20% one-hour tracks, 10% the vehicle list."""
    rng = random.Random(14)
    sequence = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.4:
            path = "/v1/live"
        elif draw < 0.7:
            path = f"/v1/vehicles/{rng.choice(mixed.device_ids)}"
        elif draw < 0.9:
            since = start + timedelta(hours=rng.randrange(23))
            path = track_path(rng.choice(mixed.tracked), since)
        else:
            path = "/v1/vehicles"
        sequence.append(request(path, mixed.token))
    return sequence


def track_path(device_id: str, since: datetime) -> str:
    """The API's one-hour track of a vehicle from `since`."""
    until = since + timedelta(hours=1)
    return f"/v1/vehicles/{device_id}/positions?since={iso(since)}&until={iso(until)}&limit=10000"


def iso(ts: datetime) -> str:
    """RFC 3339 with a Z."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def median_of_rounds(rounds: int, measure: dict[str, tuple[int, bytes]], count: int) -> dict[str, float]:
    """Median milliseconds of each named (port, request), over `rounds` rounds of `count` requests, interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in measure}
    for index in range(rounds):
        names = list(measure) if index % 2 == 0 else list(reversed(measure))
        for name in names:
            port, prepared = measure[name]
            samples[name] += asyncio.run(sequential(port, prepared, count))
    return {name: statistics.median(values) for name, values in samples.items()}


def same_body(first: tuple[int, bytes], second: tuple[int, bytes], what: str) -> None:
    """Assert two servers answer `what` with the same status and bytes."""
    answers = [asyncio.run(Client(port).get(prepared)) for port, prepared in (first, second)]
    assert answers[0] == answers[1], f"{what}: the two servers answer differently"


def main() -> None:
    """Seed, start the servers, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tracked vehicles, shorter rounds")
    parser.add_argument("--baseline", default=REFERENCE, help="the commit the mixed load is compared with")
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(args.port, args.database_url)
        return
    baseline = subprocess.run(
        ["git", "rev-parse", "--verify", f"{args.baseline}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tracked, rounds, seconds, count = (4, 2, 8.0, 20) if args.quick else (20, 3, 20.0, 40)
    base = Path(tempfile.mkdtemp(prefix="fleet-api-bench-"))
    base.chmod(0o755)
    worktree = base / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), baseline], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    pg = PostgresServer(base / "pg")
    pg.start()
    servers: list[Server] = []
    try:
        url = pg.create_database("api_bench")
        upgrade(url)
        engine = make_engine(url)
        # Yesterday: the windows a dashboard asks for are recent.
        start = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        seeded = time.monotonic()
        mixed = seed(engine, url, "mixed", MIXED_VEHICLES, tracked, start)
        big = seed(engine, url, "big", LIVE_VEHICLES, 0, start)
        seeded = time.monotonic() - seeded
        with engine.connect() as connection:
            ids = dict(connection.execute(text("SELECT device_id, id FROM vehicles")).all())
            big_tenant = connection.execute(
                text("SELECT tenant_id FROM vehicles WHERE device_id = :d"), {"d": big.device_ids[0]}
            ).scalar_one()
        engine.dispose()
        current = api_server("current", ROOT, url, base)
        servers.append(current)
        # The same tree with every /v1/live queried: the single-request figures, and the mixed load without the cache.
        uncached = api_server("uncached", ROOT, url, base, FLEET_API_LIVE_CACHE_SECONDS="0")
        servers.append(uncached)
        reference = api_server("baseline", worktree, url, base)
        servers.append(reference)
        bare = Server("bare", ["-m", "bench.api_bench", "--bare", "--database-url", url], ROOT, {}, base / "bare.log")
        servers.append(bare)
        bare.wait_ready(f"/live?tenant_id={big_tenant}")

        track_since = start + timedelta(hours=10)
        device = mixed.tracked[0]
        track = request(track_path(device, track_since), mixed.token)
        bare_track_path = (
            f"/track?vehicle_id={ids[device]}&since={iso(track_since)}"
            f"&until={iso(track_since + timedelta(hours=1))}&limit=10000"
        )
        bare_track, bare_binary_track = request(bare_track_path), request(bare_track_path + "&binary=1")
        live_big, bare_live = request("/v1/live", big.token), request(f"/live?tenant_id={big_tenant}")
        vehicle = request(f"/v1/vehicles/{mixed.device_ids[5]}", mixed.token)
        live_mixed = request("/v1/live", mixed.token)
        same_body((uncached.port, track), (bare.port, bare_track), "the one-hour track")
        same_body((uncached.port, track), (bare.port, bare_binary_track), "the one-hour track, binary rows")
        same_body((uncached.port, live_big), (bare.port, bare_live), "/v1/live of 1,000 vehicles")
        same_body((uncached.port, track), (reference.port, track), "the one-hour track, against the baseline")
        same_body((uncached.port, live_big), (reference.port, live_big), "/v1/live, against the baseline")
        same_body((uncached.port, vehicle), (reference.port, vehicle), "a vehicle, against the baseline")

        sequence = mixed_requests(mixed, start, 2_000)
        mixed_servers = (current, uncached, reference)
        for server in mixed_servers:  # warm: prepared statements, caches, the pool
            asyncio.run(closed_loop(server.port, sequence, CLIENTS, 2.0))
        single = median_of_rounds(
            3 if args.quick else 5,
            {
                "track": (uncached.port, track),
                "track bare": (bare.port, bare_track),
                "track bare binary": (bare.port, bare_binary_track),
                "track baseline": (reference.port, track),
                "live": (uncached.port, live_big),
                "live bare": (bare.port, bare_live),
                "live baseline": (reference.port, live_big),
                "vehicle": (uncached.port, vehicle),
                "vehicle baseline": (reference.port, vehicle),
                "live 250": (uncached.port, live_mixed),
                "live 250 baseline": (reference.port, live_mixed),
            },
            count,
        )
        loads: dict[str, list[Load]] = {server.name: [] for server in mixed_servers}
        for index in range(rounds):
            order = mixed_servers if index % 2 == 0 else tuple(reversed(mixed_servers))
            for server in order:
                loads[server.name].append(asyncio.run(closed_loop(server.port, sequence, CLIENTS, seconds)))
    finally:
        for server in servers:
            server.stop()
        pg.stop()
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

    def mixed_figure(name: str) -> Load:
        chosen = sorted(loads[name], key=lambda load: load.rate)[len(loads[name]) // 2]
        return Load(chosen.rate, chosen.p50_ms, chosen.p99_ms, sum(load.failures for load in loads[name]))

    now, uncached_load, then = mixed_figure("current"), mixed_figure("uncached"), mixed_figure("baseline")
    command = "python -m bench.api_bench" + (" --quick" if args.quick else "")
    command += f" --baseline {args.baseline}" if args.baseline != REFERENCE else ""
    print(
        f"\nfleet API benchmark ({datetime.now(UTC):%Y-%m-%d}, {'quick' if args.quick else 'full'} run, "
        f"`.venv/bin/{command}`; baseline {baseline[:10]}; {tracked} vehicles with a day of 1 Hz positions seeded "
        f"in {seeded:.0f} s; one API worker each, admission limit 8, {CLIENTS} closed-loop clients, "
        f"{rounds} interleaved rounds of {seconds:.0f} s)\n"
    )
    print("| measurement | this tree | reference | ratio | target |")
    print("|---|---:|---:|---:|---|")
    track, live = single["track"], single["live"]
    print(
        f"| one-hour track (3,600 points), median ms | {track:.2f} | {single['track bare']:.2f} (bare psycopg + "
        f"orjson) | {track / single['track bare']:.2f}x | <= 1.5x |"
    )
    print(
        f"| the same, beside a bare server reading binary rows as the API does | {track:.2f} | "
        f"{single['track bare binary']:.2f} (bare, binary rows) | {track / single['track bare binary']:.2f}x | |"
    )
    print(
        f"| `/v1/live`, 1,000 vehicles (live cache off), median ms | {live:.2f} | {single['live bare']:.2f} "
        f"(bare psycopg + orjson) | {live / single['live bare']:.2f}x | <= 2x |"
    )
    for name, load in (("", now), (" (live cache off)", uncached_load)):
        print(
            f"| mixed read load{name}, answers/s | {load.rate:,.0f} | {then.rate:,.0f} (baseline {baseline[:10]}) | "
            f"{load.rate / then.rate:.1f}x | >= 8x |"
        )
    for name, load in (("this tree", now), ("live cache off", uncached_load), ("baseline", then)):
        print(
            f"| mixed load p50 / p99 ms, answers other than 200: {name} | {load.p50_ms:.1f} / {load.p99_ms:.1f}, "
            f"{load.failures} | | | |"
        )
    for name, label in (("track", "one-hour track"), ("live", "`/v1/live`, 1,000 vehicles"),
                        ("live 250", "`/v1/live`, 250 vehicles"), ("vehicle", "one vehicle")):  # fmt: skip
        ours, theirs = single[name], single[f"{name} baseline"]
        print(f"| {label} (live cache off), median ms | {ours:.2f} | {theirs:.2f} (baseline) | "
              f"{theirs / ours:.1f}x faster | |")  # fmt: skip


if __name__ == "__main__":
    main()
