"""The FastAPI application: `create_app(shared, settings)` wires routers, errors, metrics and the database."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from api.admin.endpoints import router as admin_router
from api.alarms.endpoints import router as alarms_router
from api.audit.endpoints import router as audit_router
from api.blobs.endpoints import router as blobs_router
from api.can.endpoints import router as can_router
from api.commands.endpoints import router as commands_router
from api.compliance.endpoints import router as compliance_router
from api.deadletters.endpoints import router as deadletters_router
from api.errors import install_error_handlers
from api.events.endpoints import router as events_router
from api.files.endpoints import router as files_router
from api.geofences.endpoints import router as geofences_router
from api.health.endpoints import router as health_router
from api.limits import BodyLimit, RateLimit
from api.live.cache import LiveCache
from api.live.endpoints import router as live_router
from api.middleware import MetricsMiddleware
from api.openapi import complete_openapi
from api.overload import AdmissionLimit
from api.positions.endpoints import router as positions_router
from api.query import reject_unknown_query_parameters
from api.rules.endpoints import router as rules_router
from api.stream.endpoints import router as stream_router
from api.stream.hub import StreamHub
from api.tenancy.cache import TokenCache
from api.timeseries.export import ExportSlots
from api.vehicles.endpoints import router as vehicles_router
from api.webhooks.endpoints import router as webhooks_router
from fleet.blobs.factory import make_blob_store
from fleet.blobs.store import BlobStore
from fleet.db.engine import make_engine, make_read_session_factory, make_session_factory
from fleet.mqtt.dynsec import DynsecControl
from fleet.settings import ApiSettings, BlobSettings, BrokerSettings, FilesSettings, LiveSettings, SharedSettings

logger = logging.getLogger(__name__)

# Under this path the local blob store's signed URLs are served; their bodies are not limited.
BLOBS_PREFIX = blobs_router.prefix + "/"

DESCRIPTION = (
    "API for fleet operators. Every `/v1` route needs `Authorization: Bearer <token>` and sees only the token's "
    "tenant, but `/v1/blobs`, where a signed URL is the grant. A token has a role: `viewer` reads, `operator` also "
    "acts (replays dead letters, holds files, sends commands), `admin` also manages tokens and vehicles and reads "
    'the audit log; a role too low is a 403, an expired or revoked token a 401. Errors are JSON `{"detail": ...}`; '
    "timestamps are RFC 3339 in UTC."
)


def package_version() -> str:
    """Version of the installed `fleet` distribution."""
    try:
        return version("fleet")
    except PackageNotFoundError:
        return "0+unknown"


def api_engine(shared: SharedSettings, settings: ApiSettings) -> Engine:
    """The API's engine: a bounded pool and wait for a connection, and a statement timeout (ingest has neither)."""
    return make_engine(
        shared.database_url,
        statement_timeout_seconds=settings.statement_timeout_seconds,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
    )


def create_app(
    shared: SharedSettings,
    settings: ApiSettings,
    engine: Engine | None = None,
    broker: BrokerSettings | None = None,
    blob_store: BlobStore | None = None,
    live: LiveSettings | None = None,
) -> FastAPI:
    """An API on `engine` (the caller disposes it), else on one of its own for the settings, disposed on shutdown.

    With `broker` naming the broker's admin, the admin API issues and revokes vehicle credentials. Files are read
    from `blob_store`, else from the store FLEET_S3_* (or, without a bucket, FLEET_DATA_DIR) names; the local one's
    signed URLs are served at /v1/blobs. `GET /v1/stream` follows `live`, else FLEET_LIVE_*.
    """
    # Built here, not at startup, so the app also works where the lifespan does not run (a bare TestClient).
    owns_engine = engine is None
    db = api_engine(shared, settings) if engine is None else engine

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            streams.close()
            if owns_engine:
                db.dispose()
                logger.info("database engine disposed")

    app = FastAPI(
        title="fleet API",
        version=package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query_parameters)],
    )
    app.state.engine = db
    app.state.session_factory = make_session_factory(db)
    app.state.read_session_factory = make_read_session_factory(db)
    # One LISTEN connection per process on PostgreSQL; SQLite has no NOTIFY and the readers poll.
    listen_url = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    streams = StreamHub(
        app.state.session_factory, live or LiveSettings(), listen_url if db.dialect.name == "postgresql" else None
    )
    app.state.streams = streams
    admin = broker.admin_endpoint(shared) if broker else None
    app.state.credential_broker = DynsecControl(admin) if admin else None
    if blob_store is None:
        blobs = BlobSettings()
        blob_store = make_blob_store(shared, blobs, local_base_url=blobs.blob_base_url)
    app.state.blob_store = blob_store
    app.state.files_settings = FilesSettings()
    app.state.export_slots = ExportSlots(settings.max_concurrent_exports)
    app.state.live_cache = LiveCache(settings.live_cache_seconds)
    app.state.token_cache = TokenCache(settings.token_cache_seconds)
    install_error_handlers(app)
    complete_openapi(app)
    # Added innermost first: metrics see every answer, the limits run before routing and any body parsing, and the
    # admission limit first of them, so a request it sheds costs no more than its answer.
    # The blob endpoint's bodies are as long as its signed URLs say (up to 5 GiB), and streamed to the store.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, unlimited_prefixes=(BLOBS_PREFIX,))
    app.add_middleware(
        RateLimit, per_minute=settings.rate_limit_per_minute, auth_failures_per_minute=settings.auth_failures_per_minute
    )
    app.add_middleware(AdmissionLimit, limit=settings.max_concurrent_requests)
    app.add_middleware(MetricsMiddleware)
    routers = (
        health_router,
        vehicles_router,
        positions_router,
        can_router,
        live_router,
        stream_router,
        deadletters_router,
        files_router,
        compliance_router,
        commands_router,
        events_router,
        alarms_router,
        rules_router,
        geofences_router,
        admin_router,
        audit_router,
        webhooks_router,
        blobs_router,
    )
    for router in routers:
        app.include_router(router)
    return app
