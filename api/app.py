"""The FastAPI application: `create_app(shared, settings)` wires routers, errors, metrics and the database."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from sqlalchemy import Engine

from api.can.endpoints import router as can_router
from api.deadletters.endpoints import router as deadletters_router
from api.errors import install_error_handlers
from api.health.endpoints import router as health_router
from api.live.endpoints import router as live_router
from api.middleware import MetricsMiddleware
from api.positions.endpoints import router as positions_router
from api.vehicles.endpoints import router as vehicles_router
from fleet.db.engine import make_engine, make_session_factory
from fleet.settings import ApiSettings, SharedSettings

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


def create_app(shared: SharedSettings, settings: ApiSettings, engine: Engine | None = None) -> FastAPI:
    """An API on `engine` (the caller disposes it), else on one of its own for the settings, disposed on shutdown."""
    # Built here, not at startup, so the app also works where the lifespan does not run (a bare TestClient).
    owns_engine = engine is None
    db = make_engine(shared.database_url) if engine is None else engine

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owns_engine:
                db.dispose()
                logger.info("database engine disposed")

    app = FastAPI(title="fleet API", version=package_version(), description=DESCRIPTION, lifespan=lifespan)
    app.state.engine = db
    app.state.session_factory = make_session_factory(db)
    app.state.mqtt = shared.mqtt_endpoint()
    app.state.silent_after = timedelta(seconds=settings.silent_after_seconds)
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    for router in (health_router, vehicles_router, positions_router, can_router, live_router, deadletters_router):
        app.include_router(router)
    return app
