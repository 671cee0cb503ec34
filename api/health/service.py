"""Rules of the health module."""

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.health import repository
from api.metrics import VEHICLE_STATES, VEHICLES
from fleet.errors import Unavailable

logger = logging.getLogger(__name__)


def check_database(engine: Engine) -> None:
    """503 unless the database answers."""
    try:
        repository.ping(engine)
    except SQLAlchemyError as exc:
        logger.warning("readiness check failed: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise Unavailable("database unreachable") from None


def refresh_vehicle_gauge(engine: Engine, silent_after: timedelta) -> None:
    """Update fleet_api_vehicles from the database; keep the last values when it is unreachable."""
    try:
        counts = repository.vehicles_by_state(engine, datetime.now(UTC) - silent_after)
    except SQLAlchemyError as exc:
        logger.warning("vehicle counts unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return
    for state in VEHICLE_STATES:
        VEHICLES.labels(state).set(counts.get(state, 0))
