"""Overload benchmark: the API at twice the rate it sustains, beside that rate measured in the same run.

Run: `.venv/bin/python -m bench.overload_bench` (about a minute and a half; `--quick`: shorter rounds). Prints a
Markdown table.

One private PostgreSQL with the API benchmark's data (a tenant of 250 vehicles with their latest state, 4 of them
with a day of 1 Hz positions), one `fleet api` with one worker and the shipped admission limit, pool and timeouts
(the per-token rate limit out of the way, as in bench.api_bench). The mixed read load of bench.api_bench (40%
`/v1/live`, 30% one vehicle, 20% one-hour tracks, 10% the vehicle list):

- **the reference**: a closed loop of as many clients as the admission limit admits (8), each sending its next
  request when the last is answered: the rate the API sustains, and its answer times there;
- **the overload**: an open loop at twice that rate for the same time, each request sent at its scheduled moment
  on a connection of its own (reused once idle) whatever the answers before it, as a fleet of dashboards does.
  Every answer is counted by status; times run from the scheduled moment, so a late load generator counts against
  the API, not for it. The shed answers' times from the moment each was sent are printed beside them: the API's
  part. The load generator runs on uvloop, as the API does, so that it takes less of the two cores.

The targets (issue 14): past capacity requests are shed with 503 or 429 and `Retry-After` within 100 ms, never a
500, and the requests admitted keep p99 under 1 s.
"""

import argparse
import asyncio
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvloop

from bench.api_bench import MIXED_VEHICLES, ROOT, Client, Load, api_server, closed_loop, mixed_requests, seed
from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from tests.fixtures.postgres import PostgresServer

TRACKED = 4
CLIENTS = 8
OVERLOAD = 2.0
SHED_TARGET_MS = 100.0
ADMITTED_P99_TARGET_MS = 1000.0


@dataclass
class Answers:
    """What an open-loop round got back: statuses, answer times by outcome, and how late the generator sent."""

    statuses: Counter[int] = field(default_factory=Counter)
    admitted_ms: list[float] = field(default_factory=list)
    shed_ms: list[float] = field(default_factory=list)
    shed_after_send_ms: list[float] = field(default_factory=list)
    shed_without_retry_after: int = 0
    late_ms: list[float] = field(default_factory=list)
    stale_retries: int = 0
    errors: int = 0


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float) -> Answers:
    """Send `rate` requests a second of `requests` for `seconds`, each at its moment, and collect the answers.

    Each request's task is started at its moment, not all at the outset: starting the 20,000 of a round at once took
    longer than the head start given them, so the first second's requests went out up to 0.3 s late, in a burst.
    """
    answers = Answers()
    idle: list[Client] = []
    count = int(rate * seconds)

    async def one(index: int, due: float) -> None:
        answers.late_ms.append((time.perf_counter() - due) * 1000)
        reused = bool(idle)
        client = idle.pop() if reused else Client(port)
        sent = time.perf_counter()
        try:
            try:
                status, _ = await client.get(requests[index % len(requests)])
            except (OSError, asyncio.IncompleteReadError):
                if not reused:
                    raise
                # The server closed this keep-alive connection while it was idle (uvicorn's 5 s): as HTTP clients
                # do for a GET, send it again on a new one.
                client.close()
                answers.stale_retries += 1
                client = Client(port)
                sent = time.perf_counter()
                status, _ = await client.get(requests[index % len(requests)])
        except (OSError, asyncio.IncompleteReadError):
            answers.errors += 1
            client.close()
            return
        answered = time.perf_counter()
        took_ms = (answered - due) * 1000
        answers.statuses[status] += 1
        if status == 200:
            answers.admitted_ms.append(took_ms)
        elif status in (429, 503):
            answers.shed_ms.append(took_ms)
            answers.shed_after_send_ms.append((answered - sent) * 1000)
            answers.shed_without_retry_after += b"\r\nretry-after:" not in client.head.lower()
        idle.append(client)

    running: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    for index in range(count):
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        task = asyncio.create_task(one(index, due))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
    for client in idle:
        client.close()
    return answers


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank); nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    """Seed, start the API, measure the sustainable rate and then twice it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="rounds of 8 s instead of 20 s")
    args = parser.parse_args()
    seconds = 8.0 if args.quick else 20.0
    base = Path(tempfile.mkdtemp(prefix="fleet-overload-bench-"))
    base.chmod(0o755)
    pg = PostgresServer(base / "pg")
    pg.start()
    try:
        url = pg.create_database("overload_bench")
        upgrade(url)
        engine = make_engine(url)
        start = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        mixed = seed(engine, url, "mixed", MIXED_VEHICLES, TRACKED, start)
        engine.dispose()
        server = api_server("current", ROOT, url, base)
        try:
            requests = mixed_requests(mixed, start, 2000)
            # A short warm-up, so the first round does not pay for the statement caches and the pool.
            uvloop.run(closed_loop(server.port, requests, CLIENTS, 2.0))
            sustained: Load = uvloop.run(closed_loop(server.port, requests, CLIENTS, seconds))
            offered = OVERLOAD * sustained.rate
            overload = uvloop.run(open_loop(server.port, requests, offered, seconds))
        finally:
            server.stop()
    finally:
        pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)

    total = sum(overload.statuses.values()) + overload.errors
    shed = overload.statuses[503] + overload.statuses[429]
    others = {s: n for s, n in overload.statuses.items() if s not in (200, 429, 503)}
    admitted_p99 = percentile(overload.admitted_ms, 0.99)
    shed_p99 = percentile(overload.shed_ms, 0.99)
    after_send = overload.shed_after_send_ms
    rows = [
        ("sustained rate (closed loop, 8 clients)", f"{sustained.rate:,.0f}/s", "the reference", ""),
        ("its answer times p50 / p99", f"{sustained.p50_ms:,.0f} / {sustained.p99_ms:,.0f} ms", "", ""),
        ("offered (open loop)", f"{offered:,.0f}/s", f"{OVERLOAD:g}x the sustained rate", ""),
        ("answered 200", f"{overload.statuses[200] / seconds:,.0f}/s", f"{overload.statuses[200] / total:.0%} of all",
         f"{overload.statuses[200] / seconds / sustained.rate:.2f}x the sustained rate"),
        ("shed (503 or 429)", f"{shed / seconds:,.0f}/s", f"{shed / total:.0%} of all",
         f"{overload.shed_without_retry_after} without Retry-After"),
        ("other answers (500s: target none)", f"{sum(others.values())}", str(dict(others) or "none"),
         f"{overload.errors} connection errors; {overload.stale_retries} sent again (server closed an idle one)"),
        ("shed answer time p50 / p99", f"{percentile(overload.shed_ms, 0.5):,.0f} / {shed_p99:,.0f} ms",
         f"target <= {SHED_TARGET_MS:g} ms", "met" if shed_p99 <= SHED_TARGET_MS else "not met"),
        ("the same from the moment sent p50 / p99", f"{percentile(after_send, 0.5):,.0f} / "
         f"{percentile(after_send, 0.99):,.0f} ms", "", "the API's part"),
        ("admitted answer time p50 / p99",
         f"{percentile(overload.admitted_ms, 0.5):,.0f} / {admitted_p99:,.0f} ms",
         f"target p99 < {ADMITTED_P99_TARGET_MS:g} ms",
         f"{admitted_p99 / sustained.p99_ms:.1f}x the sustained p99; "
         + ("met" if admitted_p99 < ADMITTED_P99_TARGET_MS else "not met")),
        ("load generator lateness p99", f"{percentile(overload.late_ms, 0.99):,.0f} ms", "counted against the API",
         ""),
    ]  # fmt: skip
    print(
        f"\nfleet API overload benchmark ({datetime.now(UTC):%Y-%m-%d}, `.venv/bin/python -m bench.overload_bench"
        f"{' --quick' if args.quick else ''}`; one API worker, admission limit 8, rounds of {seconds:g} s)\n"
    )
    print("| measurement | value | reference | note |")
    print("|---|---:|---|---|")
    for name, value, reference, note in rows:
        print(f"| {name} | {value} | {reference} | {note} |")


if __name__ == "__main__":
    main()
