"""Retention of events (archived, changing after they are written), alarms, dead letters and webhook deliveries
(not archived)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from fleet.db.engine import make_session_factory
from fleet.db.models import Alarm, Command, DeadLetter, Event, OutboxMessage, Webhook, WebhookDelivery
from fleet.lifecycle import overrides
from fleet.settings import RetentionSettings
from tests.lifecycle.seed import (
    NOW,
    add_alarm,
    add_dead_letter,
    add_event,
    archive,
    days_ago,
    ids_of,
    purged,
    state_of,
    tenant_with_vehicle,
)
from worker.retention import RetentionStep

pytestmark = pytest.mark.integration


def run(engine: Engine) -> None:
    RetentionStep(engine, RetentionSettings(), True, timedelta(days=30), clock=lambda: NOW).run()


def test_events_go_only_when_archived_unchanged_and_their_alarms_only_once_closed(pg: Engine) -> None:
    tenant, bus = tenant_with_vehicle(pg, "acme")
    archived, changed, unarchived, recent = days_ago(800), days_ago(801), days_ago(802), days_ago(10)
    gone = add_event(pg, tenant, bus, archived, "u:1")
    archive(pg, "events", archived, "verified", {tenant: 1})
    # Ended (or retracted) after the export: the archive holds an older version of it.
    edited = add_event(pg, tenant, bus, changed, "u:2", updated_at=NOW)
    archive(pg, "events", changed, "verified", {tenant: 1}, exported_at=NOW - timedelta(days=1))
    kept = {edited, add_event(pg, tenant, bus, unarchived, "u:3"), add_event(pg, tenant, bus, recent, "u:4")}
    closed = add_alarm(pg, tenant, bus, archived, "closed")
    still = {add_alarm(pg, tenant, bus, archived, state) for state in ("open", "acknowledged")}
    still.add(add_alarm(pg, tenant, bus, recent, "closed"))
    with make_session_factory(pg)() as session:
        session.get_one(Alarm, min(still)).event_id = gone
        session.commit()

    run(pg)

    assert ids_of(pg, Event) == kept
    assert purged(pg, "events", archived) == {tenant: True}
    assert (state_of(pg, "events", changed), purged(pg, "events", changed)) == ("stale", {tenant: False})
    assert ids_of(pg, Alarm) == still and closed not in still
    with make_session_factory(pg)() as session:
        assert session.get_one(Alarm, min(still)).event_id is None


def test_dead_letters_go_after_their_tenants_days_or_the_default(pg: Engine) -> None:
    short, _ = tenant_with_vehicle(pg, "short")
    usual, _ = tenant_with_vehicle(pg, "usual")
    with make_session_factory(pg)() as session:
        overrides.set_override(session, short, "dead_letters", 5, NOW)
        session.commit()
    old = {add_dead_letter(pg, tenant, days_ago(40), f"fleet/v1/{tenant}/pos") for tenant in (short, usual, None)}
    recent_of_short = add_dead_letter(pg, short, days_ago(10), "fleet/v1/a/pos")
    recent_of_usual = add_dead_letter(pg, usual, days_ago(10), "fleet/v1/b/pos")
    without_tenant = add_dead_letter(pg, None, days_ago(10), "fleet/v1/c/pos")

    run(pg)

    remaining = ids_of(pg, DeadLetter)
    assert remaining == {recent_of_usual, without_tenant}
    assert not remaining & (old | {recent_of_short})


def test_finished_webhook_deliveries_go_after_their_days_and_pending_ones_never(pg: Engine) -> None:
    tenant, _ = tenant_with_vehicle(pg, "hooks")
    old, recent = days_ago(40), days_ago(10)
    with make_session_factory(pg)() as session:
        hook = Webhook(tenant_id=tenant, url="https://example.test/h", secret="s" * 32, kinds=["event"], created_by="t")
        session.add(hook)
        session.flush()

        def delivery(day: date, feed_id: int, state: str) -> WebhookDelivery:
            written = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
            row = WebhookDelivery(
                webhook_id=hook.id,
                tenant_id=tenant,
                feed_id=feed_id,
                kind="event",
                payload={},
                state=state,
                next_attempt_at=written,
                created_at=written,
            )
            session.add(row)
            return row

        gone = [delivery(old, 1, "delivered"), delivery(old, 2, "dead")]
        kept = [delivery(old, 3, "pending"), delivery(recent, 4, "delivered"), delivery(recent, 5, "dead")]
        session.commit()
        gone_ids, kept_ids = {row.id for row in gone}, {row.id for row in kept}

    run(pg)

    with make_session_factory(pg)() as session:
        remaining = set(session.scalars(select(WebhookDelivery.id)))
    assert remaining == kept_ids and not remaining & gone_ids


def test_finished_downlink_messages_go_after_their_days_and_their_commands_stay(pg: Engine) -> None:
    tenant, bus = tenant_with_vehicle(pg, "downlink")
    old, recent = days_ago(40), days_ago(10)
    with make_session_factory(pg)() as session:

        def message(day: date, state: str) -> OutboxMessage:
            written = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
            row = OutboxMessage(
                tenant_id=tenant,
                vehicle_id=bus,
                suffix="cmd",
                payload=b"{}",
                created_at=written,
                not_before=written,
                expires_at=written + timedelta(hours=1),
                state=state,
            )
            session.add(row)
            return row

        gone = [message(old, state) for state in ("sent", "expired", "cancelled")]
        kept = [message(old, "pending"), message(recent, "sent")]
        session.flush()
        command = Command(
            tenant_id=tenant,
            vehicle_id=bus,
            type="reboot",
            params={},
            state="done",
            expires_at=NOW,
            created_by="test",
            outbox_id=gone[0].id,
        )
        session.add(command)
        session.commit()
        gone_ids, kept_ids, command_id = {row.id for row in gone}, {row.id for row in kept}, command.id

    run(pg)

    with make_session_factory(pg)() as session:
        remaining = set(session.scalars(select(OutboxMessage.id)))
        survivor = session.get_one(Command, command_id)
        assert (survivor.state, survivor.outbox_id) == ("done", None)
    assert remaining == kept_ids and not remaining & gone_ids
