"""Deliveries to a real receiver on loopback: retried with back-off while it is down, then delivered once each,
in feed order, signed; dead after the give-up time; not lost by a worker killed between its claim and the answer."""

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import utcnow
from fleet.settings import WebhookSettings
from fleet.webhooks import delivery, repository
from fleet.webhooks.delivery import LEASE_MARGIN_SECONDS
from tests.webhooks.conftest import (
    ALL_KINDS,
    EARLIER,
    FAST,
    Receiver,
    add_tenant,
    add_webhook,
    deliveries_of,
    event,
    publish,
    run_until,
    step,
    verified,
)
from worker import webhooks

pytestmark = pytest.mark.integration


def counted(result: str) -> float:
    """The worker's count of delivery attempts with `result`."""
    return REGISTRY.get_sample_value("fleet_worker_webhook_deliveries_total", {"result": result}) or 0.0


def test_deliveries_are_retried_while_the_receiver_is_down_then_arrive_once_each_in_order_signed(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    tenant, _ = add_tenant(sessions)
    webhook, secret = add_webhook(sessions, tenant, receiver.url, ALL_KINDS)
    publish(sessions, [event(tenant, n) for n in range(1, 6)])
    worker = step(sessions)
    failed_before = counted("failed")

    run_until(worker, lambda: len(receiver.requests) >= 3, "three refused attempts")
    down = deliveries_of(sessions, webhook)
    assert {d.state for d in down} == {"pending"}
    assert down[0].attempts >= 3 and down[0].last_status == 503
    assert "HTTP 503" in (down[0].last_error or "")
    # While the receiver fails, only the oldest message is tried: the others wait for its next attempt.
    assert {r.message["data"]["id"] for r in receiver.requests} == {1}
    assert [d.attempts for d in down[1:]] == [0, 0, 0, 0]
    assert counted("failed") - failed_before >= 3

    receiver.status = 200
    run_until(worker, lambda: {d.state for d in deliveries_of(sessions, webhook)} == {"delivered"}, "all delivered")
    for _ in range(3):
        worker.run()  # nothing is sent twice

    delivered = receiver.delivered()
    assert [r.message["data"]["id"] for r in delivered] == [1, 2, 3, 4, 5]
    feed_ids = [d.feed_id for d in deliveries_of(sessions, webhook)]
    assert [int(r.headers["Fleet-Event-Id"]) for r in delivered] == feed_ids
    assert [r.message["id"] for r in delivered] == feed_ids
    assert all(verified(r, secret) for r in delivered)
    assert {r.headers["Fleet-Event-Kind"] for r in delivered} == {"event"}
    assert {r.headers["Content-Type"] for r in delivered} == {"application/json"}
    assert set(delivered[0].message) == {"id", "kind", "created_at", "data"}
    assert not verified(delivered[0], "whsec_another")


def test_the_back_off_doubles_up_to_its_maximum_with_jitter() -> None:
    settings = WebhookSettings(backoff_initial_seconds=10, backoff_max_seconds=3600)
    waits = [delivery.backoff(attempts, settings).total_seconds() for attempts in range(1, 12)]
    bases = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]

    assert all(0.8 * base <= wait <= 1.2 * base for wait, base in zip(waits, bases, strict=True))
    assert delivery.backoff(10_000, settings).total_seconds() <= 1.2 * 3600


def test_a_delivery_failing_past_the_give_up_time_is_dead(sessions: sessionmaker[Session], closed_url: str) -> None:
    tenant, _ = add_tenant(sessions)
    webhook, _ = add_webhook(sessions, tenant, closed_url, ALL_KINDS, now=utcnow() - EARLIER)
    # Written two hours ago and refused ever since: at the next refusal an hour's give-up is past.
    publish(sessions, [event(tenant, 1)], now=utcnow() - timedelta(hours=2))
    dead_before = counted("dead")
    worker = step(sessions, FAST.model_copy(update={"give_up_hours": 1.0}))

    worker.run()

    [dead] = deliveries_of(sessions, webhook)
    assert (dead.state, dead.attempts, dead.last_status) == ("dead", 1, None)
    assert "ConnectionRefusedError" in (dead.last_error or "")
    assert counted("dead") - dead_before == 1
    worker.run()
    assert deliveries_of(sessions, webhook)[0].attempts == 1  # a dead delivery is not tried again


def test_the_last_attempt_is_made_at_the_give_up_time(sessions: sessionmaker[Session], closed_url: str) -> None:
    tenant, _ = add_tenant(sessions)
    webhook, _ = add_webhook(sessions, tenant, closed_url, ALL_KINDS)
    publish(sessions, [event(tenant, 1)])
    settings = FAST.model_copy(update={"give_up_hours": 1.0, "backoff_initial_seconds": 7200.0})
    settings = settings.model_copy(update={"backoff_max_seconds": 7200.0})

    step(sessions, settings).run()

    [pending] = deliveries_of(sessions, webhook)
    assert pending.state == "pending"
    assert pending.next_attempt_at == pending.created_at + timedelta(hours=1)


def test_a_worker_killed_between_its_claim_and_the_answer_loses_no_delivery(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    receiver.status = 204
    tenant, _ = add_tenant(sessions)
    webhook, secret = add_webhook(sessions, tenant, receiver.url, ALL_KINDS)
    publish(sessions, [event(tenant, 1), event(tenant, 2)])
    step(sessions).fan_out()

    with sessions() as session:  # a claim rolled back (the worker died inside it) leaves the deliveries due
        assert len(delivery.claim(session, FAST, utcnow())) == 2
        session.rollback()
    with sessions() as session:  # a claim committed, then the worker died before sending
        assert len(delivery.claim(session, FAST, utcnow())) == 2
        session.commit()
    step(sessions).run()
    assert receiver.requests == []  # the lease holds them for the dead worker...
    lease = timedelta(seconds=2 * FAST.timeout_seconds + LEASE_MARGIN_SECONDS + 1)
    step(sessions, clock=lambda: utcnow() + lease).run()  # ...until it ends: another worker sends them

    assert [r.message["data"]["id"] for r in receiver.delivered()] == [1, 2]
    assert all(verified(r, secret) for r in receiver.delivered())
    assert [(d.state, d.attempts) for d in deliveries_of(sessions, webhook)] == [("delivered", 1), ("delivered", 1)]


def test_a_pass_past_its_sending_budget_leaves_the_rest_due(
    sessions: sessionmaker[Session], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.status = 200
    tenant, _ = add_tenant(sessions)
    webhook, _ = add_webhook(sessions, tenant, receiver.url, ALL_KINDS)
    publish(sessions, [event(tenant, 1)])
    monkeypatch.setattr(webhooks, "SEND_BUDGET_SECONDS", -1.0)

    step(sessions).run()

    [waiting] = deliveries_of(sessions, webhook)
    assert (waiting.state, waiting.attempts, receiver.requests) == ("pending", 0, [])
    assert waiting.next_attempt_at <= utcnow()  # not leased any longer: the next pass sends it
    monkeypatch.undo()
    step(sessions).run()
    assert [r.message["data"]["id"] for r in receiver.delivered()] == [1]


def test_the_pending_gauge_counts_the_waiting_deliveries(sessions: sessionmaker[Session], closed_url: str) -> None:
    tenant, _ = add_tenant(sessions)
    add_webhook(sessions, tenant, closed_url, ALL_KINDS)
    publish(sessions, [event(tenant, 1), event(tenant, 2)])

    step(sessions).run()

    with sessions() as session:
        pending = repository.count_pending(session)
    assert pending >= 2
    assert REGISTRY.get_sample_value("fleet_worker_webhook_deliveries_pending") == pending
