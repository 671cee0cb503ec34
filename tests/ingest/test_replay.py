"""Dead letters can be replayed once their cause is fixed; each record is stored once however often."""

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from fleet.db.engine import make_session_factory
from fleet.db.models import DeadLetter, Position, Tenant, Vehicle
from fleet.deadletters.service import BULK_REPLAYS, pending_dead_letters, replay
from fleet.mqtt.url import parse_mqtt_url
from fleet.registry.service import add_vehicles
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.processes import fleet_command
from tests.fixtures.publisher import Publisher

pytestmark = pytest.mark.integration


def fleet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*fleet_command(), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def stored(engine: Engine, device_id: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count())
                .select_from(Position)
                .join(Vehicle, Vehicle.id == Position.vehicle_id)
                .where(Vehicle.device_id == device_id)
            )
        )


def test_unknown_device_letters_replayed_after_registration_are_stored_once(
    pg_url: str, pg_engine: Engine, mosquitto: MosquittoServer, unique: str
) -> None:
    tenant = seed_tenant(pg_engine, f"replay-{unique}", [])
    device = f"newbus-{unique}"
    now = datetime.now(UTC)
    records = [
        {"ts": (now - timedelta(seconds=i)).isoformat(), "seq": 10 - i, "lat": 1.0, "lon": 2.0} for i in range(3)
    ]
    runner = IngestThread(pg_url, mosquitto.url).start()
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish(f"fleet/v1/{device}/pos", records[0])
        publisher.publish(f"fleet/v1/{device}/pos", json.dumps({"records": records[1:]}))

        def letters() -> list[DeadLetter]:
            with make_session_factory(pg_engine)() as session:
                return list(session.scalars(select(DeadLetter).where(DeadLetter.device_id == device)))

        wait_until(lambda: len(letters()) == 2, "two unknown-device dead letters")
        assert {letter.reason for letter in letters()} == {"unknown_device"}
        with make_session_factory(pg_engine)() as session:
            add_vehicles(session, session.get_one(Tenant, tenant.id), [device])
            session.commit()

        env = {"FLEET_DATABASE_URL": pg_url, "FLEET_MQTT_URL": mosquitto.url}
        ids = [str(letter.id) for letter in letters()]
        result = fleet(env, "deadletters", "replay", *ids)
        assert result.returncode == 0, result.stderr
        assert "replayed 2 dead letter(s)" in result.stdout
        wait_until(lambda: stored(pg_engine, device) == 3, "replayed records stored")
        assert all(letter.replayed_at is not None for letter in letters())

        again = fleet(env, "deadletters", "replay", *ids)
        assert "replayed 0 dead letter(s)" in again.stdout
        with make_session_factory(pg_engine)() as session:  # force a second replay of the same letters
            forced = list(session.scalars(select(DeadLetter).where(DeadLetter.device_id == device)))
            assert replay(session, parse_mqtt_url(mosquitto.url), forced) == 2
            session.commit()
        marker = {"ts": (now + timedelta(seconds=1)).isoformat(), "seq": 11, "lat": 1.0, "lon": 2.0}
        publisher.publish(f"fleet/v1/{device}/pos", marker)
        wait_until(lambda: stored(pg_engine, device) == 4, "marker after the second replay")
        assert stored(pg_engine, device) == 4
        assert len(letters()) == 2  # the second replay produced no new dead letters
    finally:
        publisher.close()
        runner.stop()


def test_replay_reports_an_unreachable_broker_in_one_line(pg_url: str, pg_engine: Engine, unique: str) -> None:
    with make_session_factory(pg_engine)() as session:
        letter = DeadLetter(
            topic=f"fleet/v1/gone-{unique}/pos",
            device_id=f"gone-{unique}",
            reason="unknown_device",
            detail="x",
            payload=b"{}",
        )
        session.add(letter)
        session.commit()
        letter_id = letter.id
    result = fleet(
        {"FLEET_DATABASE_URL": pg_url, "FLEET_MQTT_URL": "mqtt://127.0.0.1:1"}, "deadletters", "replay", str(letter_id)
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("fleet: error: MQTT broker 127.0.0.1:1 unreachable")
    assert len(result.stderr.strip().splitlines()) == 1
    with make_session_factory(pg_engine)() as session:
        assert session.get_one(DeadLetter, letter_id).replayed_at is None


def test_a_letter_still_bad_after_replays_stays_one_letter_and_replaying_everything_ends(
    pg_url: str, pg_engine: Engine, mosquitto: MosquittoServer, unique: str
) -> None:
    device = f"stillbad-{unique}"
    tenant = seed_tenant(pg_engine, f"again-{unique}", [device])
    bad = {"ts": datetime.now(UTC).isoformat(), "seq": 1, "lat": 123.0, "lon": 2.0}  # latitude out of range
    sessions = make_session_factory(pg_engine)
    endpoint = parse_mqtt_url(mosquitto.url)

    def letters() -> list[DeadLetter]:
        with sessions() as session:
            return list(session.scalars(select(DeadLetter).where(DeadLetter.device_id == device)))

    def schema_rejections() -> float:
        return REGISTRY.get_sample_value("fleet_ingest_dead_letters_total", {"reason": "schema"}) or 0.0

    def replay_all(ids: list[int] | None = None) -> int:
        """What `POST /v1/deadletters/replay` and `fleet deadletters replay` do, for this tenant."""
        with sessions() as session:
            published = replay(session, endpoint, pending_dead_letters(session, tenant_id=tenant.id, ids=ids))
            session.commit()
            return published

    runner = IngestThread(pg_url, mosquitto.url).start()
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish(f"fleet/v1/{device}/pos", bad)
        wait_until(lambda: len(letters()) == 1, "the dead letter")
        for replays in range(1, BULK_REPLAYS + 1):
            rejected = schema_rejections()
            assert replay_all() == 1
            wait_until(lambda r=rejected: schema_rejections() > r, f"replay {replays} to come back bad")
            assert len(letters()) == 1, "the record came back bad to its letter, not as a new one"
        assert replay_all() == 0  # replayed often enough: a client repeating "replay all" until 0 stops here
        (letter,) = letters()
        assert (letter.reason, letter.replay_count, letter.repeat_count) == ("schema", BULK_REPLAYS, BULK_REPLAYS)
        assert letter.replayed_at is None and letter.last_seen_at is not None  # pending: it is still bad

        rejected = schema_rejections()
        assert replay_all(ids=[letter.id]) == 1  # named, it is replayed anyway
        wait_until(lambda: schema_rejections() > rejected, "the named replay to come back bad")
        (letter,) = letters()
        assert (letter.replay_count, letter.repeat_count) == (BULK_REPLAYS + 1, BULK_REPLAYS + 1)
    finally:
        publisher.close()
        runner.stop()
