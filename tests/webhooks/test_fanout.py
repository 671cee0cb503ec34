"""The fan-out: filters pick the messages, tenants stay apart, and a late-committing lower id is never skipped."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import utcnow
from fleet.live import feed
from fleet.live.feed import Kind, Message
from fleet.webhooks import fanout
from fleet.webhooks.service import Filter
from tests.webhooks.conftest import ALL_KINDS, FAST, add_tenant, add_webhook, deliveries_of, event, publish, step

pytestmark = pytest.mark.integration


def test_filters_select_kinds_event_types_and_severities(sessions: sessionmaker[Session], closed_url: str) -> None:
    tenant, _ = add_tenant(sessions)
    braking = add_webhook(sessions, tenant, closed_url, Filter(["event"], ["harsh_braking"], "warning"))[0]
    alarms_and_commands = add_webhook(sessions, tenant, closed_url, Filter(["alarm", "command"], [], "critical"))[0]
    positions = add_webhook(sessions, tenant, closed_url, Filter(["position"]))[0]
    everything = add_webhook(sessions, tenant, closed_url, ALL_KINDS)[0]
    messages = [
        event(tenant, 1, "harsh_braking", "info"),
        event(tenant, 2, "harsh_braking", "warning"),
        event(tenant, 3, "harsh_braking", "critical"),
        event(tenant, 4, "overspeed", "critical"),
        Message(tenant, Kind.ALARM, {"id": 5, "type": "overspeed", "severity": "warning", "state": "open"}),
        Message(tenant, Kind.ALARM, {"id": 6, "type": "overspeed", "severity": "critical", "state": "open"}),
        Message(tenant, Kind.COMMAND, {"id": 7, "type": "reboot", "state": "sent"}),
        Message(tenant, Kind.POSITION, {"id": 8, "lat": 48.1, "lon": 11.5}),
    ]
    publish(sessions, messages)

    step(sessions).fan_out()

    def ids(webhook_id: int) -> list[int]:
        return [d.payload["id"] for d in deliveries_of(sessions, webhook_id)]

    assert ids(braking) == [2, 3]
    assert ids(alarms_and_commands) == [6, 7]
    assert ids(positions) == [8]
    assert ids(everything) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert {d.state for d in deliveries_of(sessions, everything)} == {"pending"}


def test_another_tenants_webhooks_never_get_a_tenants_messages(
    sessions: sessionmaker[Session], closed_url: str
) -> None:
    mine, _ = add_tenant(sessions)
    theirs, _ = add_tenant(sessions)
    my_webhook = add_webhook(sessions, mine, closed_url, ALL_KINDS)[0]
    their_webhook = add_webhook(sessions, theirs, closed_url, ALL_KINDS)[0]
    publish(sessions, [event(mine, 1), event(mine, 2), event(theirs, 3)])

    step(sessions).fan_out()

    assert [(d.tenant_id, d.payload["id"]) for d in deliveries_of(sessions, my_webhook)] == [(mine, 1), (mine, 2)]
    assert [(d.tenant_id, d.payload["id"]) for d in deliveries_of(sessions, their_webhook)] == [(theirs, 3)]


def test_a_webhook_gets_only_messages_written_after_it(sessions: sessionmaker[Session], closed_url: str) -> None:
    tenant, _ = add_tenant(sessions)
    publish(sessions, [event(tenant, 1)], now=utcnow() - timedelta(minutes=1))
    webhook = add_webhook(sessions, tenant, closed_url, ALL_KINDS)[0]
    publish(sessions, [event(tenant, 2)])

    step(sessions).fan_out()

    assert [d.payload["id"] for d in deliveries_of(sessions, webhook)] == [2]


def test_a_lower_id_committing_late_is_fanned_out_and_a_rolled_back_one_is_passed_after_the_settle_time(
    pg_sessions: sessionmaker[Session], closed_url: str
) -> None:
    tenant, _ = add_tenant(pg_sessions)
    webhook = add_webhook(pg_sessions, tenant, closed_url, ALL_KINDS)[0]
    worker = step(pg_sessions)
    worker.fan_out()  # the cursor catches up with the feed

    with pg_sessions() as late:
        feed.publish(late.connection(), [event(tenant, 1)])  # a lower id, not committed yet
        publish(pg_sessions, [event(tenant, 2)])
        worker.fan_out()
        assert deliveries_of(pg_sessions, webhook) == []  # 2 waits for whatever has the id before it
        late.commit()
    worker.fan_out()
    assert [d.payload["id"] for d in deliveries_of(pg_sessions, webhook)] == [1, 2]

    with pg_sessions() as rolled_back:
        feed.publish(rolled_back.connection(), [event(tenant, 3)])
        publish(pg_sessions, [event(tenant, 4)])
        rolled_back.rollback()  # a gap for good
    worker.fan_out()
    assert [d.payload["id"] for d in deliveries_of(pg_sessions, webhook)] == [1, 2]
    later = step(pg_sessions, clock=lambda: utcnow() + fanout.SETTLE + timedelta(seconds=1))
    later.fan_out()
    assert [d.payload["id"] for d in deliveries_of(pg_sessions, webhook)] == [1, 2, 4]


def test_a_second_fan_out_adds_nothing(sessions: sessionmaker[Session], closed_url: str) -> None:
    tenant, _ = add_tenant(sessions)
    webhook = add_webhook(sessions, tenant, closed_url, ALL_KINDS)[0]
    publish(sessions, [event(tenant, 1)])
    step(sessions, FAST).fan_out()
    with sessions() as session:
        assert fanout.fan_out(session, utcnow(), 100) == fanout.FanOut(0, 0)

    assert len(deliveries_of(sessions, webhook)) == 1
