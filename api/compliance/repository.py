"""Queries of the compliance module: the newest verified tachograph downloads of a tenant."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from fleet.db.models import File, Tenant, Vehicle
from fleet.files.tachograph import DOWNLOADED_AT, DRIVER_CARD_KIND, VEHICLE_UNIT_KIND, verified


def tenant(session: Session, tenant_id: int) -> Tenant:
    """The tenant of the caller."""
    return session.get_one(Tenant, tenant_id)


def vehicle_units(session: Session, tenant_id: int) -> Sequence[Row[str, datetime, datetime | None]]:
    """(device id, registered at, newest download or None) of the tenant's vehicles that need a tachograph."""
    newest = (
        select(File.vehicle_id, func.max(DOWNLOADED_AT).label("downloaded_at"))
        .where(File.tenant_id == tenant_id, verified(VEHICLE_UNIT_KIND))
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
        .where(File.tenant_id == tenant_id, verified(DRIVER_CARD_KIND), File.driver_card_id.is_not(None))
        .subquery()
    )
    query = (
        select(ranked.c.driver_card_id, ranked.c.device_id, ranked.c.downloaded_at)
        .where(ranked.c.newest_first == 1)
        .order_by(ranked.c.driver_card_id)
    )
    return session.execute(query).all()
