"""HTTP routes of the webhooks module."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import AdminDep, SessionDep
from api.errors import FORBIDDEN_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.webhooks import service
from api.webhooks.schemas import DeliveryOut, DeliveryPage, WebhookCreated, WebhookIn, WebhookList

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses={**UNAUTHORIZED_RESPONSE, **FORBIDDEN_RESPONSE})

Responses = dict[int | str, dict[str, Any]]
WEBHOOK_NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No such webhook among yours"}}
MAX_LIMIT = 500
# Webhook ids are 32-bit, delivery ids 64-bit.
WebhookIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The webhook's `id`; one not yours is a 404")]
DeliveryIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="The delivery's `id`")]

CREATE_DESCRIPTION = """Send your tenant's live-feed messages matching a filter to `url` as signed HTTP POSTs;
needs the admin role, audited (`webhook.change`). The answer holds the signing `secret`, shown only here.

Each message is POSTed as `{"id", "kind", "created_at", "data"}` with the headers `Fleet-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, `Fleet-Event-Id` and `Fleet-Event-Kind`. A 2xx answer
delivers it; anything else is retried with back-off (10 s doubling to 1 h by default) until 24 h after the message,
then the delivery is dead (listed under its deliveries, retried on request). Delivery is at least once and not
ordered across retries: deduplicate and order by `Fleet-Event-Id`. docs/webhooks.md has a verification example.

`kinds`: `position`, `event`, `alarm`, `command`. `event_types` and `min_severity` filter events and alarms."""


@router.post(
    "",
    summary="Create a webhook",
    description=CREATE_DESCRIPTION,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorOut, "description": "Your tenant has the most webhooks allowed (20)"}},
)
def create_webhook(session: SessionDep, principal: AdminDep, body: WebhookIn) -> WebhookCreated:
    return service.create(session, principal, body)


@router.get("", summary="List webhooks")
def list_webhooks(session: SessionDep, principal: AdminDep) -> WebhookList:
    """Your tenant's webhooks, oldest first (without their secrets)."""
    return service.list_webhooks(session, principal.tenant_id)


@router.delete(
    "/{id}", summary="Delete a webhook", status_code=status.HTTP_204_NO_CONTENT, responses={**WEBHOOK_NOT_FOUND}
)
def delete_webhook(session: SessionDep, principal: AdminDep, id: WebhookIdPath) -> Response:
    """Delete one of your webhooks with its deliveries: nothing more is sent to it. Audited (`webhook.change`)."""
    service.delete(session, principal, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{id}/deliveries", summary="List a webhook's deliveries", responses={**WEBHOOK_NOT_FOUND})
def webhook_deliveries(
    session: SessionDep,
    principal: AdminDep,
    id: WebhookIdPath,
    state: Annotated[Literal["pending", "delivered", "dead"] | None, Query(description="Only this state")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only ids below this: `next_before_id` of the last page")
    ] = None,
) -> DeliveryPage:
    """The deliveries of one of your webhooks, newest first: dead ones are the messages it never got."""
    return service.deliveries(session, principal.tenant_id, id, state, limit, before_id)


@router.post(
    "/{id}/deliveries/{delivery_id}/retry",
    summary="Retry a delivery",
    responses={
        404: {"model": ErrorOut, "description": "No such webhook among yours, or no such delivery of it"},
        409: {"model": ErrorOut, "description": "The delivery was delivered already"},
    },
)
def retry_delivery(
    session: SessionDep, principal: AdminDep, id: WebhookIdPath, delivery_id: DeliveryIdPath
) -> DeliveryOut:
    """Make a dead or failing delivery due now: the worker sends it at its next pass. The give-up time still counts
    from the message, so a dead delivery that fails again is dead again. Audited (`webhook.change`)."""
    return service.retry(session, principal, id, delivery_id)
