"""`GET /v1/stream` on SQLite (`fleet up`'s database): no NOTIFY, the readers poll."""

import time

from fleet.db.engine import make_engine, make_session_factory
from fleet.live.feed import Kind
from tests.live.conftest import live_app, publish, serving, stream, viewer_tenant


def test_messages_arrive_by_polling_and_a_reconnection_resumes(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    tenant = viewer_tenant(make_session_factory(engine), "sqlite-live", ["bus-1"])
    other = viewer_tenant(make_session_factory(engine), "sqlite-other", ["bus-9"])
    try:
        with serving(live_app(sqlite_url)) as url:
            with stream(url, tenant.token) as sse:
                sse.until_attached()
                start = time.monotonic()
                publish(engine, other.id, Kind.EVENT, {"n": "theirs"})
                publish(engine, tenant.id, Kind.EVENT, {"n": 1})
                [first] = sse.events(1)
                elapsed = time.monotonic() - start
            for n in (2, 3):
                publish(engine, tenant.id, Kind.ALARM, {"n": n})
            with stream(url, tenant.token, last_event_id_header=first.id) as sse:
                missed = sse.events(2)
                sse.quiet(0.8)
    finally:
        engine.dispose()

    assert first.json() == {"n": 1} and elapsed < 1.0
    assert [(e.event, e.json()["n"]) for e in missed] == [("alarm", 2), ("alarm", 3)]
