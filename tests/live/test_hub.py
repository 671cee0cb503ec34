"""The fan-out's parts without HTTP: a client's bounded buffer, and the hub's limit and shutdown."""

import asyncio

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.stream.hub import StreamHub, TooManyStreams
from api.stream.repository import FeedRow
from api.stream.subscription import Ended, Subscription
from fleet.db.models import Tenant
from fleet.settings import LiveSettings


def row(feed_id: int, kind: str = "event") -> FeedRow:
    """A feed row."""
    return FeedRow(feed_id, kind, {"n": feed_id})


def test_a_client_too_slow_for_its_buffer_is_ended_after_what_it_has() -> None:
    async def scenario() -> tuple[list[int], list[int], Ended | None]:
        subscription = Subscription(None, capacity=3)
        for feed_id in range(1, 6):
            subscription.offer(row(feed_id))
        first = [r.id for r in await subscription.take(0.1)]
        subscription.offer(row(6))
        return first, [r.id for r in await subscription.take(0.1)], subscription.ended

    assert asyncio.run(scenario()) == ([1, 2, 3], [], Ended.TOO_SLOW)


def test_a_subscription_skips_other_kinds_and_what_the_client_has() -> None:
    async def scenario() -> list[int]:
        subscription = Subscription({"alarm"}, capacity=10)
        subscription.floor = 2
        for feed_id, kind in [(1, "alarm"), (2, "alarm"), (3, "event"), (4, "alarm")]:
            subscription.offer(row(feed_id, kind))
        return [r.id for r in await subscription.take(0.1)]

    assert asyncio.run(scenario()) == [4]


def test_a_quiet_subscription_times_out_empty() -> None:
    assert asyncio.run(Subscription(None, capacity=1).take(0.05)) == []


def test_the_hub_limits_streams_and_ends_them_at_shutdown(session: Session, acme: Tenant) -> None:
    session.commit()
    sessions = sessionmaker(session.get_bind())

    async def scenario() -> tuple[Ended | None, int]:
        hub = StreamHub(sessions, LiveSettings(max_streams=2), listen_url=None)
        first = await hub.open(acme.id, None)
        second = await hub.open(acme.id, {"alarm"})
        with pytest.raises(TooManyStreams):
            await hub.open(acme.id, None)
        first.attach()
        hub.close()
        ended = first.subscription.ended
        first.close()
        second.close()
        return ended, hub.open_streams

    assert asyncio.run(scenario()) == (Ended.SHUTDOWN, 0)
