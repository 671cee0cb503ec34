"""Queries of the health module."""

from datetime import datetime

from sqlalchemy import Engine, case, func, or_, select, text

from fleet.db.models import VehicleState


def ping(engine: Engine) -> None:
    """Run `SELECT 1`; raises when the database cannot be reached."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def vehicles_by_state(engine: Engine, reporting_since: datetime) -> dict[str, int]:
    """Count vehicles as offline (announced), reporting (data since `reporting_since`) or silent (neither)."""
    state = case(
        (VehicleState.online.is_(False), "offline"),
        (or_(VehicleState.pos_ts >= reporting_since, VehicleState.can_ts >= reporting_since), "reporting"),
        else_="silent",
    )
    with engine.connect() as connection:
        return {name: count for name, count in connection.execute(select(state, func.count()).group_by(state))}
