"""The FastAPI application: `create_app(database_url)` wires routers, errors, metrics and the database."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from api.can.endpoints import router as can_router
from api.deadletters.endpoints import router as deadletters_router
from api.errors import install_error_handlers
from api.health.endpoints import router as health_router
from api.live.endpoints import router as live_router
from api.middleware import MetricsMiddleware
from api.positions.endpoints import router as positions_router
from api.vehicles.endpoints import router as vehicles_router
from fleet.db.engine import make_engine, make_session_factory

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Read API for fleet operators. Every `/v1` route needs `Authorization: Bearer <token>` and sees only the "
    'token\'s tenant. Errors are JSON `{"detail": ...}`; timestamps are RFC 3339 in UTC.'
)


def package_version() -> str:
    """Version of the installed `fleet` distribution."""
    try:
        return version("fleet")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(database_url: str, mqtt_url: str | None = None, silent_after_seconds: float = 300.0) -> FastAPI:
    """An API serving the database at `database_url` (its engine disposed on shutdown); `mqtt_url` enables replay."""
    # Built here, not at startup, so the app also works where the lifespan does not run (a bare TestClient).
    engine = make_engine(database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            engine.dispose()
            logger.info("database engine disposed")

    app = FastAPI(title="fleet API", version=package_version(), description=DESCRIPTION, lifespan=lifespan)
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.mqtt_url = mqtt_url
    app.state.silent_after = timedelta(seconds=silent_after_seconds)
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    for router in (health_router, vehicles_router, positions_router, can_router, live_router, deadletters_router):
        app.include_router(router)
    return app
