"""Rules of the webhooks: create one (its secret shown once), list, delete, page its deliveries, retry one.

A webhook's URL must be http(s) with a host and no credentials; nothing here restricts which hosts, so a production
deployment restricts the worker's egress (docs/webhooks.md, SSRF). Every change is audited (`webhook.change`).
"""

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from fleet.audit.service import CLI, Actor, AuditAction, record
from fleet.contract.events import EVENT_TYPE_PATTERN, SEVERITIES
from fleet.db.models import Webhook, WebhookDelivery
from fleet.errors import Conflict, Invalid, NotFound
from fleet.live.feed import Kind
from fleet.webhooks import repository
from fleet.webhooks.repository import DEAD, DELIVERED, PENDING

MAX_URL_LENGTH = 2000
MAX_EVENT_TYPES = 50
# Each webhook costs the fan-out a filter per message of its tenant: a few receivers per tenant is the use.
MAX_WEBHOOKS_PER_TENANT = 20
SECRET_PREFIX = "whsec_"
STATES = (PENDING, DELIVERED, DEAD)
# Control characters and spaces would be sent as they are (or refused by PostgreSQL, for NUL).
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True, slots=True)
class Filter:
    """Which messages a webhook gets: feed kinds, event types of events and alarms (empty: all), lowest severity."""

    kinds: Sequence[str]
    event_types: Sequence[str] = ()
    min_severity: str = "info"


def check_url(url: str) -> str:
    """`url` when it is an http(s) URL with a host and no credentials; Invalid otherwise."""
    if len(url) > MAX_URL_LENGTH or _UNSAFE.search(url):
        raise Invalid(f"the URL must be at most {MAX_URL_LENGTH} characters without spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise Invalid("the URL is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("the URL must be http:// or https:// with a host")
    if parts.username is not None or parts.password is not None:
        raise Invalid("the URL must not hold credentials: receivers check the signature instead")
    return url


def check_filter(spec: Filter) -> Filter:
    """`spec` with its lists sorted and deduplicated; Invalid for an unknown kind or severity or a bad type."""
    kinds = sorted(set(spec.kinds))
    if not kinds or not set(kinds) <= set(Kind):
        raise Invalid(f"kinds must be one or more of {', '.join(Kind)}")
    event_types = sorted(set(spec.event_types))
    if len(event_types) > MAX_EVENT_TYPES or not all(re.fullmatch(EVENT_TYPE_PATTERN, t) for t in event_types):
        raise Invalid(f"event_types must be at most {MAX_EVENT_TYPES} lower-case names ({EVENT_TYPE_PATTERN})")
    if spec.min_severity not in SEVERITIES:
        raise Invalid(f"min_severity must be one of {', '.join(SEVERITIES)}")
    return Filter(kinds, event_types, spec.min_severity)


def create(
    session: Session, tenant_id: int, url: str, spec: Filter, actor: Actor = CLI, now: datetime | None = None
) -> tuple[Webhook, str]:
    """Add an active webhook for the tenant; it and its secret (stored for signing, shown only now)."""
    checked = check_filter(spec)
    if repository.count_of_tenant(session, tenant_id) >= MAX_WEBHOOKS_PER_TENANT:
        raise Conflict(f"a tenant has at most {MAX_WEBHOOKS_PER_TENANT} webhooks: delete one first")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    webhook = Webhook(
        tenant_id=tenant_id, url=check_url(url), secret=secret, kinds=list(checked.kinds),
        event_types=list(checked.event_types), min_severity=checked.min_severity, active=True, created_by=actor.name,
    )  # fmt: skip
    if now is not None:
        webhook.created_at = now
    session.add(webhook)
    session.flush()
    detail = {"change": "create", "url": webhook.url, "kinds": webhook.kinds, "event_types": webhook.event_types}
    _audit(session, webhook, actor, detail | {"min_severity": webhook.min_severity})
    return webhook, secret


def of_tenant(session: Session, tenant_id: int) -> Sequence[Webhook]:
    """The tenant's webhooks, oldest first."""
    return repository.of_tenant(session, tenant_id)


def find(session: Session, tenant_id: int, webhook_id: int) -> Webhook:
    """The tenant's webhook; NotFound for an unknown one and for another tenant's."""
    webhook = repository.find(session, tenant_id, webhook_id)
    if webhook is None:
        raise NotFound(f"no webhook {webhook_id}")
    return webhook


def delete(session: Session, tenant_id: int, webhook_id: int, actor: Actor = CLI) -> None:
    """Delete the tenant's webhook with its deliveries: nothing more is sent to it."""
    webhook = find(session, tenant_id, webhook_id)
    _audit(session, webhook, actor, {"change": "delete", "url": webhook.url})
    session.delete(webhook)
    session.flush()


def deliveries(
    session: Session, tenant_id: int, webhook_id: int, state: str | None, limit: int, before_id: int | None = None
) -> Sequence[WebhookDelivery]:
    """Up to `limit` deliveries of the tenant's webhook (in `state`, below `before_id`), newest first."""
    if state is not None and state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}")
    return repository.deliveries(session, find(session, tenant_id, webhook_id).id, state, limit, before_id)


def retry(
    session: Session, tenant_id: int, webhook_id: int, delivery_id: int, now: datetime, actor: Actor = CLI
) -> WebhookDelivery:
    """Make a dead or failing delivery of the tenant's webhook due now; Conflict for a delivered one.

    The give-up clock still runs from the message's time: a dead delivery gets one attempt, and is dead again if it
    fails.
    """
    webhook = find(session, tenant_id, webhook_id)
    delivery = repository.find_delivery(session, webhook.id, delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
    if delivery.state == DELIVERED:
        raise Conflict(f"delivery {delivery_id} was delivered already")
    delivery.state, delivery.next_attempt_at = PENDING, now
    session.flush()
    _audit(session, webhook, actor, {"change": "retry", "delivery": delivery_id})
    return delivery


def _audit(session: Session, webhook: Webhook, actor: Actor, detail: Mapping[str, object]) -> None:
    record(
        session, tenant_id=webhook.tenant_id, actor=actor, action=AuditAction.WEBHOOK_CHANGE,
        target=f"webhook {webhook.id}", detail=dict(detail),
    )  # fmt: skip
