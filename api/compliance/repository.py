"""Queries of the compliance module: the newest verified tachograph downloads, per tenant and across tenants."""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, Row, case, func, literal, select
from sqlalchemy.orm import Session

from fleet.db.models import File, Tenant, Vehicle
from fleet.db.types import UtcDateTime
from fleet.files.states import FileState

VEHICLE_UNIT_KIND = "tachograph_vu"
DRIVER_CARD_KIND = "tachograph_card"
# When a download happened: the end of the data it holds, else the offer.
DOWNLOADED_AT = func.coalesce(File.ended_at, File.offered_at)


def _verified(kind: str) -> ColumnElement[bool]:
    return (File.kind == kind) & (File.state == FileState.VERIFIED)


def tenant(session: Session, tenant_id: int) -> Tenant:
    """The tenant of the caller."""
    return session.get_one(Tenant, tenant_id)


def vehicle_units(session: Session, tenant_id: int) -> Sequence[Row[str, datetime, datetime | None]]:
    """(device id, registered at, newest download or None) of the tenant's vehicles that need a tachograph."""
    newest = (
        select(File.vehicle_id, func.max(DOWNLOADED_AT).label("downloaded_at"))
        .where(File.tenant_id == tenant_id, _verified(VEHICLE_UNIT_KIND))
        .group_by(File.vehicle_id)
        .subquery()
    )
    query = (
        select(Vehicle.device_id, Vehicle.created_at, newest.c.downloaded_at)
        .outerjoin(newest, newest.c.vehicle_id == Vehicle.id)
        .where(Vehicle.tenant_id == tenant_id, Vehicle.tachograph_required)
        .order_by(Vehicle.device_id)
    )
    return session.execute(query).all()


def driver_cards(session: Session, tenant_id: int) -> Sequence[Row[str, str, datetime]]:
    """(card id, device id, newest download) of every driver card downloaded in the tenant's vehicles."""
    rank = func.row_number().over(partition_by=File.driver_card_id, order_by=(DOWNLOADED_AT.desc(), File.id.desc()))
    ranked = (
        select(File.driver_card_id, Vehicle.device_id, DOWNLOADED_AT.label("downloaded_at"), rank.label("newest_first"))
        .join(Vehicle, Vehicle.id == File.vehicle_id)
        .where(File.tenant_id == tenant_id, _verified(DRIVER_CARD_KIND), File.driver_card_id.is_not(None))
        .subquery()
    )
    query = (
        select(ranked.c.driver_card_id, ranked.c.device_id, ranked.c.downloaded_at)
        .where(ranked.c.newest_first == 1)
        .order_by(ranked.c.driver_card_id)
    )
    return session.execute(query).all()


def overdue_counts(engine: Engine, vehicle_unit_days: int, driver_card_days: int, now: datetime) -> dict[str, int]:
    """Vehicle units and driver cards of every tenant whose next download was due before `now`.

    A vehicle unit never downloaded counts once a period has passed since the vehicle was registered. Each
    tenant's own periods apply (None: the defaults given).
    """
    unit_period = func.coalesce(Tenant.tachograph_vu_days, vehicle_unit_days)
    card_period = func.coalesce(Tenant.tachograph_card_days, driver_card_days)
    with engine.connect() as connection:
        periods = connection.execute(select(unit_period, card_period).distinct()).all()
        if not periods:
            return {"vehicle_unit": 0, "driver_card": 0}
        newest_unit = (
            select(File.vehicle_id, func.max(DOWNLOADED_AT).label("downloaded_at"))
            .where(_verified(VEHICLE_UNIT_KIND))
            .group_by(File.vehicle_id)
            .subquery()
        )
        units = (
            select(func.count())
            .select_from(Vehicle)
            .join(Tenant, Tenant.id == Vehicle.tenant_id)
            .outerjoin(newest_unit, newest_unit.c.vehicle_id == Vehicle.id)
            .where(
                Vehicle.tachograph_required,
                func.coalesce(newest_unit.c.downloaded_at, Vehicle.created_at)
                < _deadline(unit_period, {unit for unit, _ in periods}, now),
            )
        )
        newest_card = (
            select(File.tenant_id, func.max(DOWNLOADED_AT).label("downloaded_at"))
            .where(_verified(DRIVER_CARD_KIND), File.driver_card_id.is_not(None))
            .group_by(File.tenant_id, File.driver_card_id)
            .subquery()
        )
        cards = (
            select(func.count())
            .select_from(newest_card)
            .join(Tenant, Tenant.id == newest_card.c.tenant_id)
            .where(newest_card.c.downloaded_at < _deadline(card_period, {card for _, card in periods}, now))
        )
        return {"vehicle_unit": connection.scalar(units) or 0, "driver_card": connection.scalar(cards) or 0}


def _deadline(period: ColumnElement[int], days: Iterable[int], now: datetime) -> ColumnElement[datetime]:
    """`now` minus the row's period: a download before it is overdue (one CASE branch per period in use)."""
    return case({value: literal(now - timedelta(days=value), UtcDateTime()) for value in days}, value=period)
