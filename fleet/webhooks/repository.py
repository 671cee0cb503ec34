"""Queries of the webhooks: webhooks of a tenant, deliveries to add, claim, page and count, the fan-out's cursor.

Claims lock rows with `FOR UPDATE SKIP LOCKED`, which SQLAlchemy leaves out on SQLite, where writers take turns.
"""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fleet.db.models import Cursor, LiveMessage, Webhook, WebhookDelivery

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def _insert(session: Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def of_tenant(session: Session, tenant_id: int) -> Sequence[Webhook]:
    """The tenant's webhooks, oldest first."""
    return session.scalars(select(Webhook).where(Webhook.tenant_id == tenant_id).order_by(Webhook.id)).all()


def find(session: Session, tenant_id: int, webhook_id: int) -> Webhook | None:
    """The tenant's webhook `webhook_id`."""
    return session.scalars(select(Webhook).where(Webhook.tenant_id == tenant_id, Webhook.id == webhook_id)).first()


def count_of_tenant(session: Session, tenant_id: int) -> int:
    """How many webhooks the tenant has."""
    return session.scalar(select(func.count()).where(Webhook.tenant_id == tenant_id)) or 0


def deliveries(
    session: Session, webhook_id: int, state: str | None, limit: int, before_id: int | None
) -> Sequence[WebhookDelivery]:
    """Up to `limit` deliveries of the webhook (in `state`, below `before_id`), newest first."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if state is not None:
        stmt = stmt.where(WebhookDelivery.state == state)
    if before_id is not None:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    return session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit)).all()


def find_delivery(session: Session, webhook_id: int, delivery_id: int) -> WebhookDelivery | None:
    """The webhook's delivery `delivery_id`, locked."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.id == delivery_id)
    return session.scalars(stmt.with_for_update()).first()


def lock_cursor(session: Session, name: str) -> int | None:
    """The position of the cursor `name` (created at 0), locked; None while another transaction holds it."""
    session.execute(_insert(session)(Cursor).values(name=name, position=0).on_conflict_do_nothing())
    stmt = select(Cursor.position).where(Cursor.name == name).with_for_update(skip_locked=True)
    return session.scalar(stmt)


def move_cursor(session: Session, name: str, position: int, now: datetime) -> None:
    """Set the cursor `name` to `position`."""
    session.execute(update(Cursor).where(Cursor.name == name).values(position=position, updated_at=now))


def feed_after(session: Session, position: int, limit: int) -> Sequence[LiveMessage]:
    """Up to `limit` live-feed messages after the id `position`, in id order."""
    stmt = select(LiveMessage).where(LiveMessage.id > position).order_by(LiveMessage.id).limit(limit)
    return session.scalars(stmt).all()


def active_of_tenants(session: Session, tenant_ids: Collection[int]) -> Sequence[Webhook]:
    """The active webhooks of the tenants."""
    stmt = select(Webhook).where(Webhook.active.is_(True), Webhook.tenant_id.in_(tenant_ids)).order_by(Webhook.id)
    return session.scalars(stmt).all()


def add_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert deliveries; one a webhook has for the feed message already is left as it is."""
    if rows:
        session.execute(_insert(session)(WebhookDelivery).on_conflict_do_nothing(), rows)


def claim_due(session: Session, now: datetime, limit: int) -> Sequence[tuple[WebhookDelivery, Webhook]]:
    """Lock up to `limit` pending deliveries due at `now` to active webhooks, longest due first, skipping locked
    ones; each with its webhook."""
    stmt = (
        select(WebhookDelivery, Webhook)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now, Webhook.active.is_(True))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return [(delivery, webhook) for delivery, webhook in session.execute(stmt)]


def lock_pending(session: Session, delivery_id: int) -> WebhookDelivery | None:
    """The delivery `delivery_id` if still pending, locked."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == PENDING)
    return session.scalars(stmt.with_for_update().execution_options(populate_existing=True)).first()


def count_pending(session: Session) -> int:
    """Pending deliveries across all tenants."""
    return session.scalar(select(func.count()).where(WebhookDelivery.state == PENDING)) or 0
