"""Request dependencies as `Annotated` aliases, so a route reads like a sentence.

Those that only read the application's state are `async`: FastAPI runs a plain `def` dependency in a worker
thread, a hop that costs more than what they do.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.errors import Unauthorized
from api.live.cache import LiveCache
from api.tenancy.cache import KnownToken, TokenCache
from api.tenancy.service import Principal, authenticate, authorize, read_token
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


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request: committed when the endpoint returns, rolled back when it raises.

    Made here, in the event loop (a session does no I/O until its first statement, which the endpoint runs in
    its worker thread), and ended in a worker thread, or here when it was never used: a thread hop or two per
    request fewer than a `def` dependency.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(session.close)  # rolls back
        raise
    if not session.in_transaction():  # never used (an answer from a cache): nothing to commit, no I/O to wait for
        session.close()
        return
    await run_in_threadpool(_commit_and_close, session)


def _commit_and_close(session: Session) -> None:
    with session:
        session.commit()


async def get_read_session_factory(request: Request) -> sessionmaker[Session]:
    """Sessions for an endpoint that only reads (`fleet.db.engine.make_read_session_factory`), which opens one in its
    worker thread: no dependency to enter and leave, and no thread hop to commit. A dashboard's reads were a
    fifth cheaper in the API's CPU than through `SessionDep`."""
    factory: sessionmaker[Session] = request.app.state.read_session_factory
    return factory


# scope="function": the commit happens before the response is sent, so a failed commit is not reported as success.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
EngineDep = Annotated[Engine, Depends(get_engine)]


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The principal of the request's bearer token; 401 without a valid one. Records the token's use.

    The token comes from the process's `TokenCache` when it was read in the last moment; otherwise, and to record
    a use, a worker thread reads or writes it in a transaction of its own: the use is recorded even when the
    request fails, and no row lock on the token is held while the request runs.
    """
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
    tokens: TokenCache = request.app.state.token_cache
    factory: sessionmaker[Session] = request.app.state.session_factory
    key = tenancy.hash_token(credentials.credentials)
    token = tokens.get(key)
    if token is None:
        token = await run_in_threadpool(_read_token, factory, credentials.credentials)
        if token is not None:
            tokens.put(key, token)
    now = utcnow()
    principal, record_use = authenticate(token, request.client.host if request.client else None, now)
    if record_use:  # at most once a minute per token
        await run_in_threadpool(_record_use, factory, principal.token_id, now)
        tokens.used(key, now)
    return principal


def _read_token(factory: sessionmaker[Session], secret: str) -> KnownToken | None:
    with factory() as session, session.begin():
        return read_token(session, secret)


def _record_use(factory: sessionmaker[Session], token_id: int, now: datetime) -> None:
    with factory() as session, session.begin():
        tenancy.record_use(session, token_id, now)


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


async def get_token_cache(request: Request) -> TokenCache:
    """The bearer tokens this process read in the last moment (FLEET_API_TOKEN_CACHE_SECONDS)."""
    cache: TokenCache = request.app.state.token_cache
    return cache


BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]
FilesSettingsDep = Annotated[FilesSettings, Depends(get_files_settings)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
ReadSessionsDep = Annotated[sessionmaker[Session], Depends(get_read_session_factory)]
ExportSlotsDep = Annotated[ExportSlots, Depends(get_export_slots)]
LiveCacheDep = Annotated[LiveCache, Depends(get_live_cache)]
TokenCacheDep = Annotated[TokenCache, Depends(get_token_cache)]
