"""Fixtures of the events API tests: an app on the session's PostgreSQL, two tenants, events stored as the core does."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.engine import make_session_factory
from fleet.db.models import Alarm, utcnow
from fleet.events.service import Changes, Draft, save
from fleet.tenancy.roles import Role
from tests.api.conftest import BASE_TS, SeededTenant, add_token, bearer, make_app, seed_tenant


def store_event(
    sessions: sessionmaker[Session],
    tenant: SeededTenant,
    device_id: str,
    event_type: str = "panic_button",
    severity: str = "critical",
    started_at: datetime = BASE_TS,
    **fields: Any,
) -> tuple[int, int | None]:
    """Store an event (a unit's unless `source` says otherwise) through `fleet.events.service.save`, publishing its
    feed messages; its id and its alarm's id (None for an info event)."""
    draft = Draft(
        tenant_id=tenant.id, vehicle_id=tenant.vehicle_ids[device_id], device_id=device_id,
        key=f"u:{uuid.uuid4().hex}", source=fields.pop("source", "unit"), type=event_type, severity=severity,
        started_at=started_at, **fields,
    )  # fmt: skip
    changes = Changes()
    with sessions.begin() as session:
        event = save(session, draft, None, changes, utcnow())
        changes.publish(session.connection(), utcnow())
        alarm_id = session.scalars(select(Alarm.id).where(Alarm.event_id == event.id)).first()
        return event.id, alarm_id


@dataclass
class Env:
    """An app on one database with a tenant (two vehicles, a token of each role) and another tenant."""

    client: TestClient
    sessions: sessionmaker[Session]
    tenant: SeededTenant
    other: SeededTenant
    headers: dict[str, dict[str, str]]

    @property
    def devices(self) -> list[str]:
        """The tenant's device ids, sorted."""
        return self.tenant.device_ids

    def event(self, device: str | None = None, **fields: Any) -> tuple[int, int | None]:
        """Store an event of the tenant's vehicle `device` (the first); its id and its alarm's."""
        return store_event(self.sessions, self.tenant, device or self.devices[0], **fields)

    def get(self, path: str, role: str = "viewer", **params: Any) -> httpx.Response:
        """GET with a token of `role` and query `params`."""
        return self.client.get(path, headers=self.headers[role], params=params)

    def send(self, method: str, path: str, role: str, body: Any = None) -> httpx.Response:
        """A request with a token of `role` and a JSON body."""
        return self.client.request(method, path, headers=self.headers[role], json=body)


def make_env(sessions: sessionmaker[Session], url: str, unique: str) -> Iterator[Env]:
    """An Env on the database at `url`."""
    tenant = seed_tenant(sessions, f"evt-{unique}", [f"bus-{unique}-1", f"bus-{unique}-2"])
    other = seed_tenant(sessions, f"evt-other-{unique}", [f"bus-{unique}-9"])
    headers = {role.value: bearer(add_token(sessions, tenant.id, role, role.value)[1]) for role in Role}
    with TestClient(make_app(url)) as client:
        yield Env(client, sessions, tenant, other, headers)


@pytest.fixture
def env(pg_url: str, pg_engine: Engine, unique: str) -> Iterator[Env]:
    """An Env on the session's PostgreSQL."""
    yield from make_env(make_session_factory(pg_engine), pg_url, unique)
