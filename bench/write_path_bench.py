"""Ingest's write path at fleet scale: this tree against a baseline commit, in one run.

Run: `.venv/bin/python -m bench.write_path_bench [--baseline REV] [--vehicles N] [--rounds R]` (about two minutes
at the defaults). Prints a Markdown table.

What a batch costs ingest once it is received, without the broker: single-record `pos` and `can` messages of
10,000 vehicles every 5 s, as `fleet sim` sends them, in the shipped batches of 500 messages, decoded, stored and
detected in (`IngestService._write`, with its acknowledgement left out) on a private PostgreSQL. The first cycle of
records (every vehicle new) warms up; the next cycles are measured: the Python CPU and the wall time per message
of the ingest process. The baseline commit runs from a `git worktree` (same venv, PYTHONPATH at the worktree), each
round on a fresh database, the two trees alternating, so a slow phase of the machine hits both. This is the part of
ingest's time that grows with the number of vehicles (each costs its detector checkpoint, latest state and live
feed row per batch); bench.ingest_bench measures the whole consumer at 100 vehicles, bench.scale_bench the fleet.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The commit before this benchmark's changes to the write path.
BASELINE = "d5ddc14"
VEHICLES = 10_000
CYCLES = 4
ROUNDS = 3
INTERVAL_S = 5
BATCH = 500


def messages(device_ids: list[str], cycles: int, start: datetime) -> list[tuple[str, bytes]]:
    """Each vehicle's pos and can record of each cycle, one message each, in the order the fleet sends them."""
    out: list[tuple[str, bytes]] = []
    for cycle in range(cycles):
        for number, device_id in enumerate(device_ids):
            ts = start + timedelta(seconds=INTERVAL_S * cycle, milliseconds=number % (INTERVAL_S * 1000))
            iso = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            speed = round(max(0.0, 30 + 15 * math.sin(cycle / 3 + number)), 1)
            pos = {"ts": iso, "seq": cycle, "lat": round(48.2 + number * 1e-5, 6), "lon": round(16.3 + cycle * 1e-5, 6),
                   "speed_kmh": speed, "heading_deg": 90.0, "alt_m": 200.0, "sats": 9, "hdop": 0.9}  # fmt: skip
            can = {"ts": iso, "seq": cycle, "distance_total_km": 1000.0 + cycle, "engine_hours_total_h": 10.0,
                   "doors_open": [False, False, False], "passenger_count": 20, "fuel_level_pct": 60.0,
                   "fuel_used_total_l": 100.0, "engine_speed_rpm": 1200, "coolant_temp_c": 85.0}  # fmt: skip
            out.append((f"fleet/v1/{device_id}/pos", json.dumps(pos, separators=(",", ":")).encode()))
            out.append((f"fleet/v1/{device_id}/can", json.dumps(can, separators=(",", ":")).encode()))
    return out


def child(database_url: str, device_ids: list[str], cycles: int) -> dict[str, float]:
    """In the tree on PYTHONPATH: write the cycles through ingest's write path; CPU and wall time per message."""
    from fleet.settings import IngestSettings, SharedSettings
    from ingest.messages import InboundMessage
    from ingest.service import IngestService

    service = IngestService(SharedSettings(database_url=database_url), IngestSettings())
    service.consumer.ack = lambda _batch: None  # type: ignore[method-assign,assignment]  # nothing was received
    start = datetime.now(UTC) - timedelta(seconds=INTERVAL_S * cycles + 60)
    sent = [InboundMessage(t, p, 1, 1, 0, 0.0) for t, p in messages(device_ids, cycles, start)]
    batches = [sent[i : i + BATCH] for i in range(0, len(sent), BATCH)]
    warm = len(batches) // cycles
    for batch in batches[:warm]:
        service._write(batch)
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches[warm:]:
        service._write(batch)
    measured = sum(len(b) for b in batches[warm:])
    return {
        "cpu_us": (time.process_time() - cpu) * 1e6 / measured,
        "wall_us": (time.perf_counter() - wall) * 1e6 / measured,
    }


def run_round(tree: Path, url: str, device_file: Path, cycles: int, log: Path) -> dict[str, float]:
    """One measurement in a fresh process of `tree`'s code."""
    # Port 0: the health server the service opens binds a free port, whatever else runs here.
    env = {**os.environ, "PYTHONPATH": str(tree), "FLEET_INGEST_HTTP_PORT": "0"}
    command = [sys.executable, str(Path(__file__)), "--child", url, str(device_file), str(cycles)]
    with log.open("ab") as out:
        done = subprocess.run(command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=out, check=True)
    result: dict[str, float] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def main() -> None:
    """Seed, alternate the two trees' rounds, print the table."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, device_file, cycles = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(child(url, json.loads(device_file.read_text()), cycles)))
        return
    sys.path.insert(0, str(ROOT))
    from fleet.db.engine import make_engine
    from fleet.db.migrate import upgrade
    from tests.fixtures.factories import seed_tenant
    from tests.fixtures.postgres import PostgresServer
    from vehicle_sim.fleet_sim import device_id_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"the commit to compare with (default {BASELINE})")
    parser.add_argument("--vehicles", type=int, default=VEHICLES, help=f"vehicles (default {VEHICLES:,})")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds per tree (default {ROUNDS})")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="fleet-write-path-"))
    base.chmod(0o755)
    worktree = base / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.baseline], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    pg = PostgresServer(base / "pg")
    pg.start()
    results: dict[str, list[dict[str, float]]] = {"this tree": [], "baseline": []}
    try:
        device_ids = [device_id_for("wp-", n) for n in range(1, args.vehicles + 1)]
        device_file = base / "devices.json"
        device_file.write_text(json.dumps(device_ids))
        for round_number in range(args.rounds):
            for name, tree in (("baseline", worktree), ("this tree", ROOT)):
                url = pg.create_database(f"r{round_number}_{name.replace(' ', '_')}")
                upgrade(url)
                seed_tenant(make_engine(url), "fleet", device_ids)
                results[name].append(run_round(tree, url, device_file, CYCLES, base / "rounds.log"))
    finally:
        pg.stop("immediate")
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    print_table(results, args.baseline, args.vehicles, args.rounds)


def print_table(results: dict[str, list[dict[str, float]]], baseline: str, vehicles: int, rounds: int) -> None:
    """The medians of the rounds, this tree against the baseline."""

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    def rounds_of(name: str, key: str) -> str:
        return " / ".join(f"{r[key]:.0f}" for r in results[name])

    print(
        f"\ningest write path ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, {vehicles:,} vehicles, batches of"
        f" {BATCH}, {rounds} rounds per tree; `.venv/bin/python -m bench.write_path_bench --baseline {baseline}`)\n"
    )
    print("| per message | this tree | baseline | this / baseline | rounds, this tree | rounds, baseline |")
    print("|---|---:|---:|---:|---|---|")
    for key, label in (("cpu_us", "Python CPU, µs"), ("wall_us", "wall time, µs")):
        current, reference = median("this tree", key), median("baseline", key)
        print(
            f"| {label} | {current:.0f} | {reference:.0f} | {current / reference:.2f}x | "
            f"{rounds_of('this tree', key)} | {rounds_of('baseline', key)} |"
        )


if __name__ == "__main__":
    main()
