"""The worker's pruning of the live feed: by age, never past what the webhook fan-out has read."""

from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import Cursor, LiveMessage, Tenant, utcnow
from fleet.live import feed
from fleet.live.feed import Kind, Message
from worker.live import WEBHOOKS_CURSOR, LivePruner, prune

RETENTION = timedelta(minutes=10)


def add(session: Session, tenant: Tenant, age: timedelta) -> int:
    """A message `age` old; its id."""
    feed.publish(session.connection(), [Message(tenant.id, Kind.EVENT, {})], utcnow() - age)
    return int(session.scalar(select(LiveMessage.id).order_by(LiveMessage.id.desc()).limit(1)) or 0)


def held(session: Session) -> list[int]:
    """Ids in the feed."""
    return list(session.scalars(select(LiveMessage.id).order_by(LiveMessage.id)))


def test_messages_older_than_the_retention_go(session: Session, acme: Tenant) -> None:
    old = [add(session, acme, timedelta(minutes=11)) for _ in range(2)]
    recent = add(session, acme, timedelta(minutes=9))

    assert prune(session, RETENTION, utcnow()) == 2
    assert held(session) == [recent]
    assert old[0] < recent


def test_messages_the_webhook_fan_out_has_not_read_stay(session: Session, acme: Tenant) -> None:
    read, unread = add(session, acme, timedelta(hours=1)), add(session, acme, timedelta(hours=1))
    session.add(Cursor(name=WEBHOOKS_CURSOR, position=read))
    session.flush()

    assert prune(session, RETENTION, utcnow()) == 1
    assert held(session) == [unread]


def test_the_pruner_counts_and_waits_between_passes(session: Session, acme: Tenant) -> None:
    add(session, acme, timedelta(hours=1))
    session.commit()
    pruner = LivePruner(sessionmaker(session.get_bind()), RETENTION.total_seconds())
    before = REGISTRY.get_sample_value("fleet_worker_live_pruned_total") or 0.0

    pruner.prune_when_due()
    add(session, acme, timedelta(hours=1))
    session.commit()
    pruner.prune_when_due()

    assert REGISTRY.get_sample_value("fleet_worker_live_pruned_total") == before + 1
    assert len(held(session)) == 1
