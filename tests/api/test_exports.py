"""Exports: a window of a time series streamed as NDJSON or CSV, batch by batch, through the same rules as pages."""

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

import api.can.service
import api.positions.service
from api.app import create_app
from api.positions.schemas import PositionOut
from api.timeseries.export import ExportFormat, negotiate
from api.timeseries.window import encode_cursor
from fleet.settings import ApiSettings, SharedSettings
from tests.api.conftest import BASE_TS, UNREACHABLE_BROKER, SeededTenant, insert_can, insert_positions, iso
from tests.fixtures.api_server import ApiServer

pytestmark = pytest.mark.integration

ROWS = 250
# Small batches, so that a few hundred rows take several queries.
BATCH = 100
NDJSON = "application/x-ndjson"
# The other side of a test's wait: long enough for a loaded machine, short enough to fail fast.
WAIT_SECONDS = 10


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.positions.service, "BATCH_ROWS", BATCH)
    monkeypatch.setattr(api.can.service, "BATCH_ROWS", BATCH)


@pytest.fixture
def device(tenant: SeededTenant, pg_sessions: sessionmaker[Session]) -> str:
    """The tenant's first device, with ROWS positions a minute apart from BASE_TS (across a day boundary)."""
    device_id = tenant.device_ids[0]
    start = BASE_TS - timedelta(hours=2)
    insert_positions(pg_sessions, tenant.vehicle_ids[device_id], [start + timedelta(minutes=n) for n in range(ROWS)])
    return device_id


def window(**extra: str) -> dict[str, str]:
    """Query parameters of the seeded window."""
    return {"since": iso(BASE_TS - timedelta(days=1)), "until": iso(BASE_TS + timedelta(days=1)), **extra}


def page_items(client: TestClient, tenant: SeededTenant, device: str, series: str = "positions") -> list[Any]:
    """Every item of the window as one JSON page."""
    answer = client.get(f"/v1/vehicles/{device}/{series}", params=window(limit="10000"), headers=tenant.headers)
    assert answer.status_code == 200
    items: list[Any] = answer.json()["items"]
    return items


def test_ndjson_by_parameter_or_accept_is_every_item_of_the_window_in_order(
    client: TestClient, tenant: SeededTenant, device: str
) -> None:
    by_format = client.get(f"/v1/vehicles/{device}/positions", params=window(format="ndjson"), headers=tenant.headers)
    by_accept = client.get(
        f"/v1/vehicles/{device}/positions", params=window(), headers={**tenant.headers, "Accept": NDJSON}
    )

    assert by_format.status_code == 200
    assert by_format.headers["content-type"].startswith(NDJSON)
    assert by_format.headers["content-disposition"] == f'attachment; filename="{device}-positions.ndjson"'
    assert by_format.content.endswith(b"\n")
    lines = by_format.content.decode().splitlines()
    assert [json.loads(line) for line in lines] == page_items(client, tenant, device)
    assert len(lines) == ROWS
    assert by_accept.content == by_format.content


def test_csv_has_a_header_and_the_items_fields_in_order(client: TestClient, tenant: SeededTenant, device: str) -> None:
    answer = client.get(
        f"/v1/vehicles/{device}/positions", params=window(), headers={**tenant.headers, "Accept": "text/csv"}
    )

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(answer.text)))
    assert table[0] == list(PositionOut.model_fields)
    items = page_items(client, tenant, device)
    assert len(table) == ROWS + 1
    for row, item in zip(table[1:], items, strict=True):
        assert row[0] == item["ts"] and row[0].endswith("Z")
        assert [cell or None for cell in row[1:]] == [None if v is None else str(v) for v in list(item.values())[1:]]
    assert answer.content == client.get(f"/v1/vehicles/{device}/positions", params=window(format="csv"),
                                         headers=tenant.headers).content  # fmt: skip


def test_can_samples_export_with_the_doors_as_a_json_array(
    client: TestClient, tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    device = tenant.device_ids[1]
    samples = [
        {"ts": BASE_TS + timedelta(seconds=n), "seq": n, "fuel_level_pct": 50.0 - n, "doors_open_mask": n % 4,
         "door_count": 2 if n % 3 else None}
        for n in range(ROWS)
    ]  # fmt: skip
    insert_can(pg_sessions, tenant.vehicle_ids[device], samples)
    url = f"/v1/vehicles/{device}/can"

    ndjson = client.get(url, params=window(format="ndjson"), headers=tenant.headers)
    table = list(csv.DictReader(io.StringIO(client.get(url, params=window(format="csv"), headers=tenant.headers).text)))

    items = page_items(client, tenant, device, "can")
    assert [json.loads(line) for line in ndjson.text.splitlines()] == items
    assert [json.loads(row["doors_open"]) if row["doors_open"] else None for row in table] == [
        item["doors_open"] for item in items
    ]
    assert table[1]["doors_open"] == "[true,false]" and table[0]["engine_speed_rpm"] == ""


def test_a_window_of_31_days_is_exported_and_one_of_32_refused(
    client: TestClient, tenant: SeededTenant, device: str
) -> None:
    since = BASE_TS - timedelta(days=15)
    url = f"/v1/vehicles/{device}/positions"

    allowed = client.get(url, params={"since": iso(since), "until": iso(since + timedelta(days=31)), "format": "csv"},
                         headers=tenant.headers)  # fmt: skip
    refused = client.get(url, params={"since": iso(since), "until": iso(since + timedelta(days=32)), "format": "csv"},
                         headers=tenant.headers)  # fmt: skip

    assert allowed.status_code == 200 and len(allowed.text.splitlines()) == ROWS + 1
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/json"
    assert "31 days" in refused.json()["detail"]


def test_another_tenants_vehicle_is_a_json_404_before_any_byte(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant, device: str
) -> None:
    for series in ("positions", "can"):
        answer = client.get(f"/v1/vehicles/{device}/{series}", params=window(format="ndjson"),
                            headers=other_tenant.headers)  # fmt: skip

        assert answer.status_code == 404
        assert answer.json() == {"detail": f"no vehicle {device!r}"}


def test_an_unknown_format_and_paging_an_export_are_refused_saying_why(
    client: TestClient, tenant: SeededTenant, device: str
) -> None:
    url = f"/v1/vehicles/{device}/positions"

    unknown = client.get(url, params=window(format="xml"), headers=tenant.headers)
    paged = client.get(url, params=window(format="csv", limit="10"), headers=tenant.headers)
    ndjson_accepted = {**tenant.headers, "Accept": NDJSON}
    resumed = client.get(url, params=window(cursor=encode_cursor(BASE_TS, 1)), headers=ndjson_accepted)

    assert unknown.status_code == 422
    assert "'json', 'ndjson' or 'csv'" in unknown.json()["detail"][0]["msg"]
    assert paged.status_code == 422 and "limit page the JSON answer only" in paged.json()["detail"]
    assert resumed.status_code == 422 and "cursor page the JSON answer only" in resumed.json()["detail"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, ExportFormat.JSON),
        ("*/*", ExportFormat.JSON),
        ("text/html,application/xhtml+xml,*/*;q=0.8", ExportFormat.JSON),
        ("application/x-ndjson", ExportFormat.NDJSON),
        ("Text/CSV; charset=utf-8", ExportFormat.CSV),
        ("text/csv;q=0.5, application/x-ndjson", ExportFormat.NDJSON),
        ("application/json, text/csv", ExportFormat.JSON),
        ("text/csv;q=0", ExportFormat.JSON),
        ("text/csv;q=oops", ExportFormat.JSON),
    ],
)
def test_accept_chooses_the_format_the_client_rates_highest(accept: str | None, expected: ExportFormat) -> None:
    assert negotiate(None, accept) is expected
    assert negotiate(ExportFormat.CSV, accept) is ExportFormat.CSV  # the parameter wins


class Gate:
    """Holds the export's third query until the test opens it, and counts the queries and their sizes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        self.opened, self.held = threading.Event(), threading.Event()
        self.limits: list[int] = []
        real = api.positions.service.rows_in_window

        def gated(session: Session, spec: Any, vehicle_id: int, query_window: Any) -> Any:
            self.limits.append(query_window.limit)
            if len(self.limits) == 3:
                self.held.set()
                assert self.opened.wait(WAIT_SECONDS), "the client saw no row while the export was held"
                if fail:
                    raise RuntimeError("the database went away")
            return real(session, spec, vehicle_id, query_window)

        monkeypatch.setattr(api.positions.service, "rows_in_window", gated)


@pytest.fixture
def server(pg_url: str) -> Iterator[ApiServer]:
    """The API behind a real socket, allowing one export at a time."""
    running = ApiServer()
    settings = ApiSettings(max_concurrent_exports=1)
    running.serve(create_app(SharedSettings(database_url=pg_url, mqtt_url=UNREACHABLE_BROKER), settings))
    yield running
    running.close()


def test_rows_reach_the_client_while_the_export_still_reads_and_one_export_at_a_time_is_503(
    server: ApiServer, tenant: SeededTenant, device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch)
    url = f"{server.url}/v1/vehicles/{device}/positions"
    with httpx.Client(headers=tenant.headers, timeout=WAIT_SECONDS) as http:
        with http.stream("GET", url, params=window(format="ndjson")) as export:
            chunks = export.iter_raw()
            first = next(chunks)
            assert gate.held.wait(WAIT_SECONDS)
            # Rows arrived while the export is held before its third query: it writes as it reads.
            assert first.endswith(b"\n") and BATCH <= len(first.splitlines()) <= 2 * BATCH < ROWS
            second = http.get(url, params=window(format="csv"))
            gate.opened.set()
            rest = b"".join(chunks)
        again = http.get(url, params=window(format="csv"))

    assert second.status_code == 503 and second.headers["retry-after"] == "1"
    assert second.json() == {"detail": "1 exports are running in this API process; retry later"}
    assert len((first + rest).splitlines()) == ROWS
    # Memory is one batch: no query asks for more.
    assert set(gate.limits) == {BATCH}
    assert again.status_code == 200, "the finished export gave its slot back"


def test_a_failure_mid_stream_ends_the_body_without_its_last_chunk(
    server: ApiServer, tenant: SeededTenant, device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch, fail=True)
    gate.opened.set()
    received = b""
    with (
        httpx.Client(headers=tenant.headers, timeout=WAIT_SECONDS) as http,
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("GET", f"{server.url}/v1/vehicles/{device}/positions", params=window(format="ndjson")) as export,
    ):
        assert export.status_code == 200
        for chunk in export.iter_raw():
            received += chunk

    assert len(received.splitlines()) == 2 * BATCH and received.endswith(b"\n"), "only whole rows were written"


def test_an_export_is_timed_apart_from_the_answer_times_of_the_latency_objective(
    client: TestClient, tenant: SeededTenant, device: str
) -> None:
    route = "/v1/vehicles/{device_id}/positions"

    def counts() -> tuple[float, float]:
        answers = REGISTRY.get_sample_value(
            "fleet_api_request_duration_seconds_count", {"method": "GET", "route": route}
        )
        exports = REGISTRY.get_sample_value("fleet_api_export_duration_seconds_count", {"route": route})
        return answers or 0.0, exports or 0.0

    before = counts()
    exported = client.get(f"/v1/vehicles/{device}/positions", params=window(format="csv"), headers=tenant.headers)
    assert exported.status_code == 200
    after_export = counts()
    page_items(client, tenant, device)

    assert after_export == (before[0], before[1] + 1)
    assert counts() == (before[0] + 1, before[1] + 1)
