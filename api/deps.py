"""Request dependencies as `Annotated` aliases, so a route reads like a sentence.

Those that only read the application's state are `async`: FastAPI runs a plain `def` dependency in a worker
thread, a hop that costs more than what they do.
"""

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.live.cache import LiveCache
from api.tenancy.service import Principal, authenticate, authorize
from api.timeseries.export import ExportSlots
from api.timeseries.window import Window, window_params
from fleet.blobs.store import BlobStore
from fleet.db.models import utcnow
from fleet.registry.credentials import CredentialBroker
from fleet.settings import FilesSettings
from fleet.tenancy import service as tenancy
from fleet.tenancy.roles import Role

bearer = HTTPBearer(auto_error=False, description="An API token of your tenant: `Authorization: Bearer <token>`")


async def get_engine(request: Request) -> Engine:
    """The application's engine."""
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed when the endpoint returns, rolled back when it raises."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session, session.begin():
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is not reported as success.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
EngineDep = Annotated[Engine, Depends(get_engine)]


def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of the request's bearer token; 401 without a valid one. Records the token's use."""
    address = request.client.host if request.client else None
    principal, record_use = authenticate(session, credentials.credentials if credentials else None, address)
    if record_use:
        # In a transaction of its own, committed at once: the use is recorded even when the request fails, and
        # no row lock on the token is held while the request runs. At most once a minute per token.
        factory: sessionmaker[Session] = request.app.state.session_factory
        with factory() as own, own.begin():
            tenancy.record_use(own, principal.token_id, utcnow())
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency answering 403 unless the request's token has `role` (or a role including it)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        return authorize(principal, role)

    check.__name__ = f"require_{role}"
    return check


# Every /v1 route declares the role it needs with one of these; each returns the caller's Principal.
ViewerDep = Annotated[Principal, Depends(require(Role.VIEWER))]
OperatorDep = Annotated[Principal, Depends(require(Role.OPERATOR))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
WindowDep = Annotated[Window, Depends(window_params)]


async def get_credential_broker(request: Request) -> CredentialBroker | None:
    """Where vehicle credentials are issued, or None when this deployment manages none (FLEET_BROKER_ADMIN_URL)."""
    broker: CredentialBroker | None = request.app.state.credential_broker
    return broker


CredentialBrokerDep = Annotated[CredentialBroker | None, Depends(get_credential_broker)]


async def get_blob_store(request: Request) -> BlobStore:
    """Where the files' bytes are: S3, or the local folder whose signed URLs the API serves itself."""
    store: BlobStore = request.app.state.blob_store
    return store


async def get_files_settings(request: Request) -> FilesSettings:
    """The file flow's settings (FLEET_FILES_*): the default tachograph periods."""
    settings: FilesSettings = request.app.state.files_settings
    return settings


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    """Sessions of the application's engine, for work that outlives the request's transaction (an export)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


async def get_export_slots(request: Request) -> ExportSlots:
    """The exports running in this process (FLEET_API_MAX_CONCURRENT_EXPORTS)."""
    slots: ExportSlots = request.app.state.export_slots
    return slots


async def get_live_cache(request: Request) -> LiveCache:
    """The answers of /v1/live kept per tenant (FLEET_API_LIVE_CACHE_SECONDS)."""
    cache: LiveCache = request.app.state.live_cache
    return cache


BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]
FilesSettingsDep = Annotated[FilesSettings, Depends(get_files_settings)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
ExportSlotsDep = Annotated[ExportSlots, Depends(get_export_slots)]
LiveCacheDep = Annotated[LiveCache, Depends(get_live_cache)]
