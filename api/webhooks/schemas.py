"""Request and response bodies of the webhooks module."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fleet.contract.events import EVENT_TYPE_PATTERN, Severity
from fleet.live.feed import Kind
from fleet.webhooks.service import MAX_EVENT_TYPES, MAX_URL_LENGTH

STATE_DESCRIPTION = (
    "pending (waiting for its first attempt or a retry; `attempts` > 0: it failed) -> delivered (a 2xx) | dead "
    "(still failing past the give-up time, 24 h after the message by default: no longer tried)"
)


class WebhookIn(BaseModel):
    """A receiver's URL and which live-feed messages it gets."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1, max_length=MAX_URL_LENGTH, description="http:// or https:// URL the messages are POSTed to"
    )
    kinds: list[Kind] = Field(min_length=1, max_length=len(Kind), description="The feed kinds to send")
    event_types: list[str] = Field(
        default_factory=list,
        max_length=MAX_EVENT_TYPES,
        description="Of events and alarms, only these types (empty: all)",
        json_schema_extra={"items": {"type": "string", "pattern": EVENT_TYPE_PATTERN}},
    )
    min_severity: Severity = Field(default="info", description="Of events and alarms, only this severity or higher")


class WebhookOut(BaseModel):
    """A webhook of your tenant (without its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    kinds: list[str]
    event_types: list[str]
    min_severity: str
    active: bool
    created_at: datetime
    created_by: str = Field(description="The name of the token that created it")


class WebhookCreated(WebhookOut):
    """A new webhook with its signing secret, shown only in this answer."""

    secret: str = Field(description="HMAC-SHA256 key of the `Fleet-Signature` header: keep it, it is not shown again")


class WebhookList(BaseModel):
    """Your tenant's webhooks, oldest first."""

    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    """One message to one webhook and how its delivery went."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    feed_id: int = Field(description="The live-feed message's id: the `Fleet-Event-Id` header and the body's `id`")
    kind: str
    state: str = Field(description=STATE_DESCRIPTION)
    attempts: int
    next_attempt_at: datetime = Field(description="When a pending delivery is tried next")
    last_status: int | None = Field(description="HTTP status of the last answer, null if none came")
    last_error: str | None = Field(description="What went wrong at the last attempt")
    created_at: datetime = Field(description="When the message was written")
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The body's `data`")


class DeliveryPage(BaseModel):
    """A page of a webhook's deliveries, newest first."""

    items: list[DeliveryOut]
    next_before_id: int | None = Field(description="`before_id` of the next page, or null on the last page")
