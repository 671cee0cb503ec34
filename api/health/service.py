"""Rules of the health module."""

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.health import repository
from fleet.errors import Unavailable

logger = logging.getLogger(__name__)


def check_database(engine: Engine) -> None:
    """503 unless the database answers."""
    try:
        repository.ping(engine)
    except SQLAlchemyError as exc:
        logger.warning("readiness check failed: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise Unavailable("database unreachable") from None
