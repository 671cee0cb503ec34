"""Rules of dead letters: one letter per distinct bad message; a tenant sees only its own devices' letters; replay
republishes them for ingest (the CLI at once, the API through the dispatcher), and a replay of everything pending
ends however often the letters come back bad."""

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from fleet.audit.service import CLI, Actor, AuditAction, record
from fleet.contract.codec import Reason
from fleet.db.models import DeadLetter, utcnow
from fleet.deadletters import repository
from fleet.errors import Invalid
from fleet.mqtt.publish import publish_and_wait
from fleet.mqtt.url import MqttEndpoint

# Ids are signed 64-bit: a larger one would overflow the database's integer (an error) instead of matching nothing.
MAX_ID = 2**63 - 1
# The audit entry of a replay lists at most this many of the ids it published.
AUDITED_IDS = 100
# A replay of every pending letter (no ids named) skips a letter replayed this often already: each time it came
# back bad, so publishing it again would only fail again. Named by id it is replayed anyway. Three, not one, so a
# letter replayed before its cause was fixed (the device not registered yet) still goes with the next replay.
BULK_REPLAYS = 3


def fingerprint(topic: str, payload: bytes) -> bytes:
    """What makes two dead letters the same: SHA-256 of the topic, a NUL (never in a topic) and the payload."""
    digest = hashlib.sha256(topic.encode("utf-8", "surrogatepass"))
    digest.update(b"\0")
    digest.update(payload)
    return digest.digest()


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message or record ingest could not store, to be kept as a dead letter."""

    topic: str
    device_id: str | None
    tenant_id: int | None
    reason: str
    detail: str
    payload: bytes
    # Sent by the broker because of a subscription (a retained message): sent again on every reconnect.
    retained: bool = False


@dataclass(slots=True)
class _Group:
    first: Rejection
    live: int = 0
    retained: int = 0


def record_rejections(connection: Connection, rejections: Sequence[Rejection], now: datetime) -> Counter[str]:
    """Write `rejections` as dead letters in the caller's transaction; return, by reason, the retained repeats skipped.

    One letter per distinct (topic, payload): a rejection matching a letter counts as a repeat of it (its
    `repeat_count` and `last_seen_at`; its reason and detail become the latest, and it is pending again), so a
    replay that fails again, or a device re-sending a bad message, adds no row. A retained rejection matching a
    letter is the broker's stored copy, sent again because ingest subscribed again: it is skipped and only counted.
    """
    groups: dict[bytes, _Group] = {}
    for rejection in rejections:
        key = fingerprint(rejection.topic, rejection.payload)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(rejection)
        if rejection.retained:
            group.retained += 1
        else:
            group.live += 1
    skipped: Counter[str] = Counter()
    # Sorted, so concurrent ingest replicas lock the same letters in the same order.
    live = sorted((key, group) for key, group in groups.items() if group.live)
    if live:
        repository.add_or_repeat(connection, [_values(key, group.first, group.live - 1, now) for key, group in live])
        for _, group in live:
            if group.retained:
                skipped[group.first.reason] += group.retained
    retained = sorted((key, group) for key, group in groups.items() if not group.live)
    if retained:
        inserted = repository.add_if_absent(connection, [_values(key, group.first, 0, now) for key, group in retained])
        for key, group in retained:
            repeats = group.retained - (1 if key in inserted else 0)
            if repeats:
                skipped[group.first.reason] += repeats
    return skipped


def _values(key: bytes, rejection: Rejection, repeats: int, now: datetime) -> dict[str, Any]:
    return {
        "received_at": now,
        "topic": rejection.topic,
        "device_id": rejection.device_id,
        "tenant_id": rejection.tenant_id,
        "reason": rejection.reason,
        "detail": rejection.detail,
        "payload": rejection.payload,
        "fingerprint": key,
        "repeat_count": repeats,
        "last_seen_at": now if repeats else None,
        "replay_count": 0,
    }


def dead_letters(
    session: Session, *, tenant_id: int | None, limit: int, before_id: int | None = None
) -> Sequence[DeadLetter]:
    """Up to `limit` dead letters of a tenant (None: of every tenant), newest first, ids below `before_id` if given."""
    return repository.newest(session, tenant_id, limit, before_id)


def pending_dead_letters(
    session: Session, *, tenant_id: int | None, ids: Sequence[int] | None = None, limit: int | None = None
) -> Sequence[DeadLetter]:
    """Dead letters of a tenant (None: of every tenant) to replay, oldest first.

    Named by `ids`: those pending (not replayed since they last came in bad). Without ids: those pending and
    replayed fewer than BULK_REPLAYS times, so replaying everything again and again ends.
    """
    bad = [i for i in ids or () if not 1 <= i <= MAX_ID]
    if bad:
        raise Invalid(f"invalid dead letter id {bad[0]}: ids are 1 to {MAX_ID}")
    return repository.pending(session, tenant_id, ids, limit, max_replays=BULK_REPLAYS if ids is None else None)


def replay(
    session: Session,
    mqtt: MqttEndpoint,
    letters: Sequence[DeadLetter],
    *,
    tenant_id: int | None = None,
    actor: Actor = CLI,
) -> int:
    """Republish `letters` now and mark them replayed (the CLI's replay); the caller commits. Returns how many.

    A replay that publishes something is recorded in the audit log, for `tenant_id` (None: the CLI's replay
    across tenants) as `actor`'s.
    """
    replayable = _replayable(letters)
    if not replayable:
        return 0
    # Read before publishing: a letter whose repeat_count moves before the mark came back bad already.
    repeats_seen = {letter.id: letter.repeat_count for letter in replayable}
    publish_and_wait(mqtt, [(letter.topic, letter.payload) for letter in replayable])
    mark_replayed(session, replayable, repeats_seen)
    _audit(session, tenant_id, actor, "replayed", replayable, len(letters))
    return len(replayable)


def request_replay(
    session: Session, letters: Sequence[DeadLetter], *, tenant_id: int | None, actor: Actor = CLI
) -> int:
    """Ask the dispatcher to republish `letters` (the API's replay: nothing is published inside a request); the
    caller commits. Returns how many were queued; recorded in the audit log like a replay."""
    replayable = _replayable(letters)
    if not replayable:
        return 0
    repository.request_replay(session, [letter.id for letter in replayable], utcnow())
    _audit(session, tenant_id, actor, "queued", replayable, len(letters))
    return len(replayable)


def claim_replays(session: Session, limit: int) -> Sequence[DeadLetter]:
    """Letters whose replay was requested, locked for the dispatcher's transaction (SKIP LOCKED: several share)."""
    return repository.claim_requested(session, limit)


def mark_replayed(session: Session, letters: Sequence[DeadLetter], repeats_seen: dict[int, int] | None = None) -> None:
    """The broker took these letters again: replayed (unless one came back bad meanwhile), no longer requested.

    `repeats_seen`: each letter's `repeat_count` when it was read before publishing (default: as loaded).
    """
    seen = repeats_seen or {letter.id: letter.repeat_count for letter in letters}
    repository.mark_replayed(session, seen, utcnow())
    for letter in letters:
        session.expire(letter, ["replayed_at", "replay_count", "repeat_count", "replay_requested_at"])


def _replayable(letters: Sequence[DeadLetter]) -> list[DeadLetter]:
    # A letter whose topic was itself the problem cannot be published again and is left as it is. Ingest stores
    # each record once however often it is replayed (idempotent keys); a record still bad comes back to its letter,
    # which counts the repeat and is pending again.
    return [letter for letter in letters if letter.reason != Reason.BAD_TOPIC.value]


def _audit(
    session: Session, tenant_id: int | None, actor: Actor, verb: str, replayable: Sequence[DeadLetter], asked: int
) -> None:
    detail = {
        verb: len(replayable),
        "skipped": asked - len(replayable),
        "ids": [x.id for x in replayable[:AUDITED_IDS]],
    }
    record(session, tenant_id=tenant_id, actor=actor, action=AuditAction.DEADLETTERS_REPLAY, detail=detail)
