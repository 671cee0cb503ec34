"""Webhooks over HTTP: thin orchestration of `fleet.webhooks.service` (rules, audit entries `webhook.change`)."""

from sqlalchemy.orm import Session

from api.tenancy.service import Principal
from api.webhooks.schemas import DeliveryOut, DeliveryPage, WebhookCreated, WebhookIn, WebhookList, WebhookOut
from fleet.db.models import utcnow
from fleet.webhooks import service as webhooks
from fleet.webhooks.service import Filter


def create(session: Session, principal: Principal, body: WebhookIn) -> WebhookCreated:
    """Add a webhook for the caller's tenant; it with its secret."""
    spec = Filter(kinds=[k.value for k in body.kinds], event_types=body.event_types, min_severity=body.min_severity)
    webhook, secret = webhooks.create(session, principal.tenant_id, body.url, spec, principal.actor)
    return WebhookCreated(**WebhookOut.model_validate(webhook).model_dump(), secret=secret)


def list_webhooks(session: Session, tenant_id: int) -> WebhookList:
    """The tenant's webhooks."""
    return WebhookList(items=[WebhookOut.model_validate(w) for w in webhooks.of_tenant(session, tenant_id)])


def delete(session: Session, principal: Principal, webhook_id: int) -> None:
    """Delete the tenant's webhook."""
    webhooks.delete(session, principal.tenant_id, webhook_id, principal.actor)


def deliveries(
    session: Session, tenant_id: int, webhook_id: int, state: str | None, limit: int, before_id: int | None
) -> DeliveryPage:
    """A page of the webhook's deliveries, newest first."""
    rows = webhooks.deliveries(session, tenant_id, webhook_id, state, limit + 1, before_id)
    page = rows[:limit]
    return DeliveryPage(
        items=[DeliveryOut.model_validate(d) for d in page], next_before_id=page[-1].id if len(rows) > limit else None
    )


def retry(session: Session, principal: Principal, webhook_id: int, delivery_id: int) -> DeliveryOut:
    """Make a delivery of the tenant's webhook due now."""
    delivery = webhooks.retry(session, principal.tenant_id, webhook_id, delivery_id, utcnow(), principal.actor)
    return DeliveryOut.model_validate(delivery)
