"""The detection in ingest's batch transaction: each vehicle's new records on from its checkpoint, or, when a
record is late, the vehicle's recent timeline recomputed.

- In order (every new record comes after the checkpoint's last one in timeline order: a later `ts`, or at
  `last_ts` a CAN record after its position): the machine goes on from the stored state with the batch's samples
  alone; only the episodes they open or end are written.
- Late (any other record: store-and-forward data, a redelivery, a replay): the detection starts
  again at S, the horizon (the longest minimum duration and MAX_GAP) before the earliest new record, moved back to
  the start of any detected event still under way at S, so that it starts where nothing is open. It reads the
  stored records from S (the batch's are stored already), seeds the signals' values with the newest ones before S,
  and makes the stored detected events from S what the machine finds: an event found again keeps its row (and its
  alarm) even when its start moved, a new one is added, one no longer found is retracted.
Either way the same records give the same events, whatever order and however often they came.
Vehicles are locked (a transaction-scoped advisory lock on PostgreSQL) so that two ingest replicas sharing the
subscription never detect for one vehicle at once.
"""

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, or_, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from fleet.db.models import CanSample, DetectorState, Event, Geofence, Position, Vehicle
from fleet.events import rules as rule_store
from fleet.events import service
from fleet.events.detection.geometry import Fence
from fleet.events.detection.machine import CAN, POS, Episode, Machine, Sample, State, VehicleRules
from fleet.events.rules import (
    DoorOpenMovingRule,
    HarshRule,
    IdlingRule,
    LowLevelRule,
    OverspeedRule,
    Rule,
    RuleT,
    TenantRules,
)
from fleet.events.service import DETECTOR, Changes, Draft

# The advisory lock space of the detection (pg_advisory_xact_lock(LOCK_SPACE, vehicle_id)).
LOCK_SPACE = 7201
# A tenant's rules and geofences are read again after this long (an edit applies within a minute).
RULES_CACHE_SECONDS = 60.0
# The types the machine detects (the clock's `silent`, fleet.events.silence, is not the recomputation's).
MACHINE_TYPES = (
    "overspeed", "harsh_braking", "harsh_acceleration", "door_open_moving", "idling", "geofence", "low_fuel",
    "low_battery",
)  # fmt: skip
# A recomputation moves its start back at most this often (to the start of an event under way there).
MAX_WIDENINGS = 5


@dataclass(frozen=True, slots=True)
class Subject:
    """A vehicle whose records are detected in: its tenant, device and groups."""

    vehicle_id: int
    tenant_id: int
    device_id: str
    groups: tuple[str, ...]


class Detection:
    """Detects events in the records of each batch; holds the tenants' rules and geofences for a minute."""

    def __init__(self) -> None:
        # Per tenant: when read, its rules, its geofences, and the rules resolved per set of vehicle groups.
        self._rules: dict[int, tuple[float, TenantRules, tuple[Fence, ...], dict[tuple[str, ...], VehicleRules]]] = {}
        self._known: dict[int, Subject] = {}
        self._subjects_read_at = time.monotonic()

    def run(self, connection: Connection, samples: Sequence[Sample], vehicle_ids: Sequence[int], changes: Changes,
            now: datetime) -> int:  # fmt: skip
        """Detect in the batch's `samples` (of `vehicle_ids`, in that order); returns how many vehicles needed a
        recomputation."""
        by_vehicle: dict[int, list[Sample]] = defaultdict(list)
        for vehicle_id, sample in zip(vehicle_ids, samples, strict=True):
            by_vehicle[vehicle_id].append(sample)
        if not by_vehicle:
            return 0
        ids = sorted(by_vehicle)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(%s, v) FROM unnest(%b::int[]) AS v ORDER BY v", (LOCK_SPACE, ids)
            )
        subjects = self._subjects(connection, ids)
        checkpoints = {vehicle_id: (last_ts, state) for vehicle_id, last_ts, state in _checkpoints_of(connection, ids)}
        earliest = {v: min(s.ts for s in by_vehicle[v]) for v in ids}
        first = {v: min((s.ts, s.kind) for s in by_vehicle[v]) for v in ids}
        fresh = State().to_json()
        for vehicle_id in _without_history(connection, {v: earliest[v] for v in ids if v not in checkpoints}):
            checkpoints[vehicle_id] = (datetime.min.replace(tzinfo=UTC), fresh)
        # The ORM session (in a savepoint) only when events are written: most batches open or end none.
        session: Session | None = None
        recomputed = 0
        written = []
        try:
            for vehicle_id in ids:
                subject = subjects[vehicle_id]
                rules = self._vehicle_rules(connection, subject)
                new = by_vehicle[vehicle_id]
                checkpoint = checkpoints.get(vehicle_id)
                if checkpoint is not None and first[vehicle_id] > _last_fed(checkpoint):
                    machine = Machine(rules, State.from_json(checkpoint[1]))
                    machine.feed(new)
                    if machine.touched:
                        session = session or Session(bind=connection, join_transaction_mode="create_savepoint")
                        for episode in machine.touched.values():
                            current = service.by_key(session, vehicle_id, episode.key)
                            _save(session, subject, episode, current, changes, now)
                    last_ts = max(checkpoint[0], *(s.ts for s in new))
                else:
                    session = session or Session(bind=connection, join_transaction_mode="create_savepoint")
                    machine, last_ts = _recompute(session, subject, rules, earliest[vehicle_id], changes, now)
                    recomputed += 1
                written.append({"vehicle_id": vehicle_id, "last_ts": last_ts, "state": machine.state.to_json(),
                                "updated_at": now})  # fmt: skip
            if session is not None:
                # Releases the session's savepoint into ingest's transaction, which commits (or rolls back) the batch.
                session.commit()
        finally:
            if session is not None:
                session.close()
        _checkpoint(connection, written)
        return recomputed

    def _subjects(self, connection: Connection, ids: Sequence[int]) -> dict[int, Subject]:
        """The vehicles' tenants, devices and groups (read again after RULES_CACHE_SECONDS)."""
        if time.monotonic() - self._subjects_read_at > RULES_CACHE_SECONDS:
            self._known.clear()
            self._subjects_read_at = time.monotonic()
        missing = [v for v in ids if v not in self._known]
        if missing:
            query = select(Vehicle.id, Vehicle.tenant_id, Vehicle.device_id, Vehicle.groups).where(
                Vehicle.id.in_(missing)
            )
            for v, t, d, g in connection.execute(query):
                self._known[v] = Subject(v, t, d, tuple(g or ()))
        return {v: self._known[v] for v in ids}

    def _vehicle_rules(self, connection: Connection, subject: Subject) -> VehicleRules:
        cached = self._rules.get(subject.tenant_id)
        if cached is None or time.monotonic() - cached[0] > RULES_CACHE_SECONDS:
            with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
                tenant_rules = rule_store.load(session, [subject.tenant_id])[subject.tenant_id]
                found = session.scalars(select(Geofence).where(Geofence.tenant_id == subject.tenant_id)).all()
                fences = tuple(Fence.of(f.id, f.name, f.kind, f.severity, f.polygon) for f in found)
            cached = self._rules[subject.tenant_id] = (time.monotonic(), tenant_rules, fences, {})
        _, tenant_rules, fences, resolved = cached
        rules = resolved.get(subject.groups)
        if rules is None:
            rules = resolved[subject.groups] = _resolve(tenant_rules, subject.groups, fences)
        return rules


def _resolve(tenant_rules: TenantRules, groups: tuple[str, ...], fences: tuple[Fence, ...]) -> VehicleRules:
    """The rules of a vehicle in `groups`."""

    def rule(detector: str, kind: type[RuleT]) -> RuleT:
        return tenant_rules.typed(detector, groups, kind)

    return VehicleRules(
        overspeed=rule("overspeed", OverspeedRule),
        harsh=rule("harsh", HarshRule),
        door_open_moving=rule("door_open_moving", DoorOpenMovingRule),
        idling=rule("idling", IdlingRule),
        geofence=rule("geofence", Rule),
        low_fuel=rule("low_fuel", LowLevelRule),
        low_battery=rule("low_battery", LowLevelRule),
        fences=fences,
    )


def _recompute(
    session: Session, subject: Subject, rules: VehicleRules, earliest: datetime, changes: Changes, now: datetime
) -> tuple[Machine, datetime]:
    """Detect again from before `earliest` and make the stored detected events match."""
    vehicle_id = subject.vehicle_id
    start = earliest - rules.horizon
    for _ in range(MAX_WIDENINGS):
        under_way = session.scalar(
            select(func.min(Event.started_at)).where(
                Event.vehicle_id == vehicle_id, Event.source == DETECTOR, Event.type.in_(MACHINE_TYPES),
                Event.started_at < start,
                or_(Event.ended_at.is_(None), Event.ended_at >= start),
            )
        )  # fmt: skip
        if under_way is None:
            break
        start = under_way - rules.horizon
    machine = Machine(rules)
    machine.seed(_samples_before(session, vehicle_id, start))
    samples = list(_samples_from(session, vehicle_id, start))
    machine.feed(samples)
    found = {**machine.touched, **{e.key: e for e in machine.open_episodes()}}
    stored = session.scalars(
        select(Event)
        .where(
            Event.vehicle_id == vehicle_id,
            Event.source == DETECTOR,
            Event.type.in_(MACHINE_TYPES),
            Event.started_at >= start,
        )
        .order_by(Event.started_at, Event.id)
    ).all()
    unmatched = {event.key: event for event in stored}
    for episode in sorted(found.values(), key=lambda e: (e.started_at, e.key)):
        current = unmatched.pop(episode.key, None) or _overlapping(unmatched, episode)
        _save(session, subject, episode, current, changes, now)
    for event in unmatched.values():
        service.retract(session, event, subject.device_id, changes, now)
    last_ts = max((s.ts for s in samples), default=earliest)
    return machine, last_ts


def _overlapping(unmatched: dict[str, Event], episode: Episode) -> Event | None:
    """The first stored event of the same detector (and geofence) whose time overlaps the episode's; taken out."""
    prefix = f"d:{episode.type}:{episode.qualifier + ':' if episode.qualifier else ''}"
    end = episode.ended_at or datetime.max.replace(tzinfo=episode.started_at.tzinfo)
    for key, event in unmatched.items():
        if key.startswith(prefix) and event.started_at <= end and (event.ended_at or end) >= episode.started_at:
            return unmatched.pop(key)
    return None


def _save(
    session: Session, subject: Subject, episode: Episode, current: Event | None, changes: Changes, now: datetime
) -> None:
    draft = Draft(
        tenant_id=subject.tenant_id, vehicle_id=subject.vehicle_id, device_id=subject.device_id, key=episode.key,
        source=DETECTOR, type=episode.type, severity=episode.severity, started_at=episode.started_at,
        ended_at=episode.ended_at, lat=episode.lat, lon=episode.lon, speed_kmh=episode.speed_kmh, data=episode.data,
    )  # fmt: skip
    service.save(session, draft, current, changes, now)


# Vehicles seen for the first time: no record before the batch's earliest and no detected event (PostgreSQL).
WITHOUT_HISTORY = (
    "SELECT t.v FROM unnest(%b::int[], %b::timestamptz[]) AS t(v, e) "
    "WHERE NOT EXISTS (SELECT 1 FROM positions p WHERE p.vehicle_id = t.v AND p.ts < t.e) "
    "AND NOT EXISTS (SELECT 1 FROM can_samples c WHERE c.vehicle_id = t.v AND c.ts < t.e) "
    "AND NOT EXISTS (SELECT 1 FROM events x WHERE x.vehicle_id = t.v AND x.source = 'detector')"
)


def _last_fed(checkpoint: tuple[datetime, dict[str, Any]]) -> tuple[datetime, int]:
    """Where a checkpoint's timeline ends: its `last_ts` and the kind of the sample there (CAN, the last of an
    instant, when the checkpoint does not say)."""
    last_ts, state = checkpoint
    kind = state.get("last_kind")
    return last_ts, CAN if kind is None else int(kind)


# The batch's checkpoints on PostgreSQL: one array bound in binary (an IN list of a few hundred parameters makes
# a new statement text each batch, which SQLAlchemy compiles and psycopg parses again). The states come as text
# for orjson, which reads them in a third of the time: ingest writes them, so they hold only what orjson reads.
CHECKPOINTS = "SELECT vehicle_id, last_ts, state::text FROM detector_state WHERE vehicle_id = ANY(%b::int[])"


def _checkpoints_of(connection: Connection, ids: list[int]) -> Iterable[tuple[int, datetime, dict[str, Any]]]:
    """(vehicle, last_ts, state) of the vehicles among `ids` with a checkpoint."""
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(CHECKPOINTS, (ids,))
        return ((vehicle_id, last_ts, orjson.loads(state)) for vehicle_id, last_ts, state in rows)
    query = select(DetectorState.vehicle_id, DetectorState.last_ts, DetectorState.state)
    rows = connection.execute(query.where(DetectorState.vehicle_id.in_(ids)))
    return ((vehicle_id, last_ts, state) for vehicle_id, last_ts, state in rows)


def _without_history(connection: Connection, earliest: dict[int, datetime]) -> list[int]:
    """The vehicles among `earliest`'s with nothing stored before their earliest new record: their detection
    starts fresh with the batch, no recomputation needed (one query for all; SQLite recomputes, it is small)."""
    if not earliest or connection.dialect.name != "postgresql":
        return []
    ids = list(earliest)
    return [v for (v,) in connection.exec_driver_sql(WITHOUT_HISTORY, (ids, [earliest[v] for v in ids]))]


# One statement for a batch's checkpoints on PostgreSQL: arrays in, one round trip (an executemany of a hundred
# rows costs several times as much). `%b` binds them in binary: a text array literal escapes each quote of the
# states' JSON, which took a fifth of ingest's time at 10,000 vehicles.
UPSERT_CHECKPOINTS = (
    "INSERT INTO detector_state (vehicle_id, last_ts, state, updated_at) "
    "SELECT * FROM unnest(%b::int[], %b::timestamptz[], %b::json[], %b::timestamptz[]) "
    "ON CONFLICT (vehicle_id) DO UPDATE SET last_ts = excluded.last_ts, state = excluded.state, "
    "updated_at = excluded.updated_at"
)


def _checkpoint(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Store each vehicle's checkpoint, in one statement."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        columns = (
            [r["vehicle_id"] for r in rows], [r["last_ts"] for r in rows],
            [orjson.dumps(r["state"]).decode() for r in rows], [r["updated_at"] for r in rows],
        )  # fmt: skip
        connection.exec_driver_sql(UPSERT_CHECKPOINTS, columns)
        return
    statement = sqlite.insert(DetectorState)
    excluded = statement.excluded
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[DetectorState.vehicle_id],
            set_={"last_ts": excluded.last_ts, "state": excluded.state, "updated_at": excluded.updated_at},
        ),
        rows,
    )


POSITION_COLUMNS = (Position.ts, Position.seq, Position.lat, Position.lon, Position.speed_kmh)
CAN_COLUMNS = (
    CanSample.ts, CanSample.seq, CanSample.doors_open_mask, CanSample.door_count, CanSample.engine_speed_rpm,
    CanSample.fuel_level_pct, CanSample.battery_soc_pct,
)  # fmt: skip


def _samples_from(session: Session, vehicle_id: int, start: datetime) -> Iterable[Sample]:
    positions = session.execute(
        select(*POSITION_COLUMNS).where(Position.vehicle_id == vehicle_id, Position.ts >= start)
    )
    yield from (Sample(ts, POS, seq, lat, lon, speed) for ts, seq, lat, lon, speed in positions)
    cans = session.execute(select(*CAN_COLUMNS).where(CanSample.vehicle_id == vehicle_id, CanSample.ts >= start))
    yield from (_can_sample(*row) for row in cans)


def _samples_before(session: Session, vehicle_id: int, start: datetime) -> Iterable[Sample]:
    """The newest position and CAN sample before `start`: the signals' values there."""
    position = session.execute(
        select(*POSITION_COLUMNS)
        .where(Position.vehicle_id == vehicle_id, Position.ts < start)
        .order_by(Position.ts.desc())
        .limit(1)
    ).first()
    if position is not None:
        ts, seq, lat, lon, speed = position
        yield Sample(ts, POS, seq, lat, lon, speed)
    can = session.execute(
        select(*CAN_COLUMNS)
        .where(CanSample.vehicle_id == vehicle_id, CanSample.ts < start)
        .order_by(CanSample.ts.desc())
        .limit(1)
    ).first()
    if can is not None:
        yield _can_sample(*can)


def _can_sample(ts: datetime, seq: int, mask: int | None, doors: int | None, rpm: float | None,
                fuel: float | None, soc: float | None) -> Sample:  # fmt: skip
    return Sample(ts, CAN, seq, doors_open_mask=mask, door_count=doors, engine_speed_rpm=rpm, fuel_level_pct=fuel,
                  battery_soc_pct=soc)  # fmt: skip
