"""Archive benchmark: a closed day of positions exported to Parquet in SeaweedFS, against plain reads of the same rows.

Run: `.venv/bin/python -m bench.archive_bench` (add `--quick` for a smaller day). Prints a Markdown table.

One day of positions of DEVICES buses is loaded into a private PostgreSQL with COPY, then archived with the
worker's own code (`fleet.archive.runner.run_day`: export, upload, manifest, read back and verify) to a private
SeaweedFS. References measured in the same run, on the same rows and servers:

- a bare `COPY (SELECT ...) TO STDOUT` of the day's rows through psycopg, the rate at which PostgreSQL hands
  them out at all (the archive's read side cannot beat it);
- the same rows fetched with plain psycopg and written to one Parquet file in memory by pyarrow, without the
  store, the manifest or the verification (the format's own cost, and the floor of the archive's code).

Sizes: the Parquet bytes per row beside PostgreSQL's bytes per row of the day's partition (heap, indexes and
TOAST: `pg_total_relation_size`), the ratio the cold tier saves.
"""

import argparse
import io
import random
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import text

from bench.ingest_bench import Row, conninfo
from fleet.archive.layout import POSITIONS
from fleet.archive.runner import run_day
from fleet.blobs.s3 import S3BlobStore
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.partitions import partition_name
from tests.fixtures.factories import seed_tenant
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.s3 import REGION, SeaweedServer

DEVICES = 200
DAY = date(2026, 1, 15)


def load_day(url: str, rows: int) -> None:
    """`rows` positions spread over DAY across DEVICES vehicles, with COPY."""
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    step = timedelta(seconds=86_400 * DEVICES / rows)
    with psycopg.connect(conninfo(url)) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM vehicles ORDER BY id")]
        rng = random.Random(7)
        lat = [52.4 + rng.uniform(0, 0.2) for _ in ids]
        lon = [13.3 + rng.uniform(0, 0.2) for _ in ids]
        speed = [30.0 for _ in ids]
        heading = [rng.uniform(0, 360) for _ in ids]
        with (
            connection.cursor() as cursor,
            cursor.copy(
                "COPY positions (vehicle_id, ts, seq, lat, lon, speed_kmh, heading_deg, alt_m, sats, hdop, "
                "received_at) FROM STDIN"
            ) as copy,
        ):
            for n in range(rows):
                index = n % DEVICES
                ts = start + step * (n // DEVICES)
                # A bus drives: each fix a few metres from the last, at a speed and heading that drift.
                speed[index] = min(80.0, max(0.0, speed[index] + rng.gauss(0, 3)))
                heading[index] = (heading[index] + rng.gauss(0, 10)) % 360
                lat[index] += rng.gauss(0, 5e-5)
                lon[index] += rng.gauss(0, 8e-5)
                fix = (round(lat[index], 6), round(lon[index], 6), round(speed[index], 1), round(heading[index], 1))
                sats, hdop = rng.randint(6, 14), round(rng.uniform(0.6, 2.5), 1)
                copy.write_row((ids[index], ts, n, *fix, round(34 + rng.gauss(0, 2), 1), sats, hdop, ts))
        connection.commit()


DAY_ROWS = (
    "SELECT v.device_id, p.ts, p.seq, p.lat, p.lon, p.speed_kmh, p.heading_deg, p.alt_m, p.sats, p.hdop, "
    "p.received_at FROM positions p JOIN vehicles v ON v.id = p.vehicle_id "
    f"WHERE p.ts >= '{DAY.isoformat()}' AND p.ts < '{(DAY + timedelta(days=1)).isoformat()}' "
    "ORDER BY v.device_id, p.ts, p.seq"
)


def copy_out(url: str) -> float:
    """Seconds of a bare binary COPY TO STDOUT of the day's rows, read and dropped."""
    with psycopg.connect(conninfo(url)) as connection, connection.cursor() as cursor:
        started = time.monotonic()
        with cursor.copy(f"COPY ({DAY_ROWS}) TO STDOUT WITH (FORMAT binary)") as copy:
            for _ in copy:
                pass
        return time.monotonic() - started


def fetch_and_write(url: str) -> float:
    """Seconds to fetch the day's rows with plain psycopg and write them as one Parquet file in memory."""
    started = time.monotonic()
    with psycopg.connect(conninfo(url)) as connection, connection.cursor(name="day") as cursor:
        cursor.execute(DAY_ROWS)
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True))
    table = pa.Table.from_arrays(
        [pa.array(column, type=field.type) for column, field in zip(columns, POSITIONS.schema, strict=True)],
        schema=POSITIONS.schema,
    )
    pq.write_table(table, io.BytesIO(), compression="zstd")
    return time.monotonic() - started


def measure(base: Path, rows: int) -> list[Row]:
    """Load a day, archive it, and measure the references on the same servers."""
    pg = PostgresServer(base / "pg")
    pg.start()
    s3 = SeaweedServer(base / "s3")
    s3.start()
    try:
        url = pg.create_database("archive_bench")
        upgrade(url)
        engine = make_engine(url)
        seed_tenant(engine, "bench", [f"bus-{i:04d}" for i in range(DEVICES)])
        with engine.begin() as connection:
            start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
            connection.execute(
                text(
                    f"CREATE TABLE {partition_name('positions', DAY)} PARTITION OF positions "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')"
                )
            )
        load_day(url, rows)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE positions"))
            pg_bytes = connection.execute(
                text("SELECT pg_total_relation_size(:name)"), {"name": partition_name("positions", DAY)}
            ).scalar_one()

        copy_seconds = copy_out(url)
        bare_seconds = fetch_and_write(url)

        store = S3BlobStore(
            s3.create_bucket("archive-bench"),
            endpoint_url=s3.endpoint_url,
            region=REGION,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )
        now = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=2)
        started = time.monotonic()
        result = run_day(make_session_factory(engine), store, POSITIONS, DAY, 100_000, now)
        archive_seconds = time.monotonic() - started
        if result.outcome != "verified" or result.rows != rows:
            raise SystemExit(f"the archive did not verify the day: {result}")
        engine.dispose()
    finally:
        s3.stop()
        pg.stop("immediate")

    archive_rate = rows / archive_seconds
    return [
        Row("archive a day (export, upload, verify)", "rows/s", archive_rate),
        Row(
            "bare COPY TO STDOUT of the same rows",
            "rows/s",
            rows / copy_seconds,
            f"archive at {archive_rate * copy_seconds / rows:.2f}x of it",
        ),
        Row(
            "plain psycopg fetch + pyarrow Parquet in memory",
            "rows/s",
            rows / bare_seconds,
            f"archive at {archive_rate * bare_seconds / rows:.2f}x of it",
        ),
        Row("PostgreSQL partition (heap + indexes)", "bytes/row", pg_bytes / rows),
        Row(
            "Parquet in the archive",
            "bytes/row",
            result.bytes / rows,
            f"{pg_bytes / result.bytes:.1f}x smaller than PostgreSQL",
        ),
    ]


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a day of 200,000 rows instead of 2,000,000")
    args = parser.parse_args()
    rows = 200_000 if args.quick else 2_000_000
    base = Path(tempfile.mkdtemp(prefix="fleet-archive-bench-"))
    base.chmod(0o755)
    try:
        table = measure(base, rows)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nOne day of positions, {rows:,} rows of {DEVICES} buses, one tenant\n")
    print("| measurement | value | unit | reference |")
    print("|---|---:|---|---|")
    for row in table:
        print(f"| {row.name} | {row.value:,.1f} | {row.unit} | {row.reference} |")


if __name__ == "__main__":
    main()
