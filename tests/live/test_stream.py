"""`GET /v1/stream` over real HTTP on PostgreSQL: delivery, tenancy, resuming, gaps, filters, replicas, limits."""

import threading
import time

import httpx
import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import LiveMessage
from fleet.live import feed
from fleet.live.feed import Kind, Message
from fleet.tenancy.roles import Role
from tests.api.conftest import SeededTenant, add_token
from tests.live.conftest import TIMEOUT, Served, live_app, publish, serving, stream

pytestmark = pytest.mark.integration


def test_a_published_message_arrives_within_a_second(pg_server: str, pg_engine: Engine, tenant: SeededTenant) -> None:
    with stream(pg_server, tenant.token) as sse:
        sse.until_attached()
        start = time.monotonic()
        publish(pg_engine, tenant.id, Kind.ALARM, {"id": 7, "type": "panic_button"})
        [event] = sse.events(1)
        elapsed = time.monotonic() - start

    assert (event.event, event.json()) == ("alarm", {"id": 7, "type": "panic_button"})
    assert event.id is not None and event.id > 0
    assert elapsed < 1.0


def test_another_tenants_messages_never_arrive(
    pg_server: str, pg_engine: Engine, tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    with stream(pg_server, tenant.token) as mine, stream(pg_server, other_tenant.token) as theirs:
        mine.until_attached()
        theirs.until_attached()
        publish(pg_engine, other_tenant.id, Kind.EVENT, {"n": "theirs"})
        publish(pg_engine, tenant.id, Kind.EVENT, {"n": "mine"})

        assert [e.json() for e in mine.events(1)] == [{"n": "mine"}]
        assert [e.json() for e in theirs.events(1)] == [{"n": "theirs"}]
        mine.quiet(1.0)


def test_a_reconnecting_client_gets_exactly_what_it_missed_then_live_ones(
    pg_server: str, pg_engine: Engine, tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    with stream(pg_server, tenant.token) as sse:
        sse.until_attached()
        publish(pg_engine, tenant.id, Kind.EVENT, {"n": 1})
        [first] = sse.events(1)
    for n in (2, 3, 4):
        publish(pg_engine, tenant.id, Kind.EVENT, {"n": n})
        publish(pg_engine, other_tenant.id, Kind.EVENT, {"n": -n})

    with stream(pg_server, tenant.token, last_event_id_header=first.id) as sse:
        missed = sse.events(3)
        sse.until_attached()
        publish(pg_engine, tenant.id, Kind.EVENT, {"n": 5})
        live = sse.events(1)
        sse.quiet(0.8)

    received = missed + live
    assert [e.json()["n"] for e in received] == [2, 3, 4, 5]
    ids = [e.id for e in received]
    assert ids == sorted(ids) and len(set(ids)) == 4 and all(i is not None and i > first.id for i in ids)  # type: ignore[operator]

    # The query parameter does the same (for a client's first connection from a saved position), the header wins.
    with stream(pg_server, tenant.token, last_event_id=ids[1]) as sse:
        assert [e.json()["n"] for e in sse.events(2)] == [4, 5]
    with stream(pg_server, tenant.token, last_event_id=first.id, last_event_id_header=ids[2]) as sse:
        assert [e.json()["n"] for e in sse.events(1)] == [5]
        sse.quiet(0.5)


def test_a_long_backlog_is_streamed_in_pages_in_order(pg_server: str, pg_engine: Engine, tenant: SeededTenant) -> None:
    with stream(pg_server, tenant.token) as sse:
        sse.until_attached()
        publish(pg_engine, tenant.id, Kind.POSITION, {"n": 0})
        [start] = sse.events(1)
    with pg_engine.begin() as connection:
        feed.publish(connection, [Message(tenant.id, Kind.POSITION, {"n": n}) for n in range(1, 2501)])

    with stream(pg_server, tenant.token, last_event_id_header=start.id) as sse:
        assert [e.json()["n"] for e in sse.events(2500, within=10)] == list(range(1, 2501))
        sse.quiet(0.5)


def test_a_transaction_committing_after_a_later_one_is_still_streamed_in_order(
    pg_server: str, pg_engine: Engine, tenant: SeededTenant
) -> None:
    with stream(pg_server, tenant.token) as sse:
        sse.until_attached()
        with pg_engine.connect() as slow:
            slow.begin()
            feed.publish(slow, [Message(tenant.id, Kind.EVENT, {"n": "takes its id first"})])
            publish(pg_engine, tenant.id, Kind.EVENT, {"n": "commits first"})
            time.sleep(0.1)
            slow.commit()
        events = sse.events(2)

    assert [e.json()["n"] for e in events] == ["takes its id first", "commits first"]
    assert events[0].id is not None and events[1].id is not None and events[0].id < events[1].id


def test_pruned_messages_are_announced_with_a_gap_then_the_rest_follows(
    pg_server: str, pg_engine: Engine, tenant: SeededTenant
) -> None:
    with stream(pg_server, tenant.token) as sse:
        sse.until_attached()
        for n in (1, 2, 3):
            publish(pg_engine, tenant.id, Kind.EVENT, {"n": n})
        first, second, third = sse.events(3)
    with pg_engine.begin() as connection:
        connection.execute(delete(LiveMessage).where(LiveMessage.id.in_([first.id, second.id])))

    with stream(pg_server, tenant.token, last_event_id_header=first.id) as sse:
        gap, rest = sse.events(2)

    assert gap.event == "gap" and gap.id is None and gap.json()["last_event_id"] == first.id
    assert (rest.id, rest.json()) == (third.id, {"n": 3})


def test_an_id_the_feed_never_reached_is_a_gap_then_live_messages(
    pg_server: str, pg_engine: Engine, tenant: SeededTenant
) -> None:
    with stream(pg_server, tenant.token, last_event_id_header=2**62) as sse:
        [gap] = sse.events(1)
        sse.until_attached()
        publish(pg_engine, tenant.id, Kind.EVENT, {"n": "live"})
        [live] = sse.events(1)

    assert gap.event == "gap"
    assert live.json() == {"n": "live"}


def test_kinds_filter_live_and_missed_messages(pg_server: str, pg_engine: Engine, tenant: SeededTenant) -> None:
    kinds = [Kind.EVENT, Kind.ALARM, Kind.POSITION, Kind.COMMAND]
    with stream(pg_server, tenant.token, kinds="alarm, command") as sse:
        sse.until_attached()
        for kind in kinds:
            publish(pg_engine, tenant.id, kind, {"kind": kind.value})
        live = sse.events(2)
        sse.quiet(0.5)
    for kind in kinds:
        publish(pg_engine, tenant.id, kind, {"kind": kind.value})
    with stream(pg_server, tenant.token, kinds="position", last_event_id_header=live[-1].id) as sse:
        missed = sse.events(1)
        sse.quiet(0.5)

    assert [(e.event, e.json()["kind"]) for e in live] == [("alarm", "alarm"), ("command", "command")]
    assert [e.event for e in missed] == ["position"]


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"kinds": "alarm,weather"}, {}),
        ({"kinds": ","}, {}),
        ({"last_event_id": "-1"}, {}),
        ({}, {"Last-Event-ID": "abc"}),
        ({"since": "yesterday"}, {}),
    ],
)
def test_bad_parameters_are_422(
    pg_server: str, tenant: SeededTenant, params: dict[str, str], headers: dict[str, str]
) -> None:
    response = httpx.get(f"{pg_server}/v1/stream", params=params, headers=tenant.headers | headers, timeout=TIMEOUT)

    assert response.status_code == 422


def test_a_stream_needs_a_token(pg_server: str) -> None:
    assert httpx.get(f"{pg_server}/v1/stream", timeout=TIMEOUT).status_code == 401


def test_two_api_processes_both_deliver(pg_url: str, pg_engine: Engine, tenant: SeededTenant) -> None:
    with (
        serving(live_app(pg_url)) as first,
        serving(live_app(pg_url)) as second,
        stream(first, tenant.token) as one,
        stream(second, tenant.token) as two,
    ):
        one.until_attached()
        two.until_attached()
        start = time.monotonic()
        publish(pg_engine, tenant.id, Kind.ALARM, {"n": 1})
        [a], [b] = one.events(1), two.events(1)
        elapsed = time.monotonic() - start

    assert a.json() == b.json() == {"n": 1} and a.id == b.id
    # NOTIFY woke both: a poll alone would take up to a second plus the settle time.
    assert elapsed < 1.0


def test_a_command_created_through_the_api_is_a_command_message(
    pg_server: str, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    _, operator = add_token(pg_sessions, tenant.id, Role.OPERATOR, "operator")
    device = tenant.device_ids[0]
    with stream(pg_server, tenant.token, kinds="command") as sse:
        sse.until_attached()
        created = httpx.post(
            f"{pg_server}/v1/vehicles/{device}/commands",
            json={"type": "driver_message", "params": {"text": "Depot at 18:00"}},
            headers={"Authorization": f"Bearer {operator}"},
            timeout=TIMEOUT,
        )
        assert created.status_code == 201, created.text
        [event] = sse.events(1)

    body = event.json()
    assert event.event == "command"
    assert {k: body[k] for k in ("id", "device_id", "type", "state")} == {
        "id": created.json()["id"],
        "device_id": device,
        "type": "driver_message",
        "state": "queued",
    }
    assert body["detail"] == "by operator" and body["at"]


def test_past_the_stream_limit_the_answer_is_503_with_retry_after(pg_url: str, tenant: SeededTenant) -> None:
    with serving(live_app(pg_url, max_streams=1)) as url, stream(url, tenant.token) as sse:
        sse.until_attached()
        refused = httpx.get(f"{url}/v1/stream", headers=tenant.headers, timeout=TIMEOUT)

        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 0
        assert "retry later" in refused.json()["detail"]


def test_a_closed_stream_frees_its_place(pg_url: str, tenant: SeededTenant) -> None:
    app = live_app(pg_url, max_streams=1)
    with serving(app) as url:
        for _ in range(3):
            with stream(url, tenant.token) as sse:
                sse.until_attached()
            deadline = time.monotonic() + 5
            while app.state.streams.open_streams:
                assert time.monotonic() < deadline, "the closed stream still counts"
                time.sleep(0.05)


def test_shutdown_ends_open_streams_cleanly(pg_url: str, pg_engine: Engine, tenant: SeededTenant) -> None:
    served = Served(live_app(pg_url))
    with stream(served.url, tenant.token) as sse:
        sse.until_attached()
        stopping = threading.Thread(target=served.stop)
        stopping.start()
        assert sse.ended(within=5), "the stream did not end at shutdown"
        stopping.join(timeout=10)

    assert not served.thread.is_alive()
