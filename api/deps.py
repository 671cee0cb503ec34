"""Request dependencies as `Annotated` aliases, so a route reads like a sentence."""

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.tenancy.service import Principal, authenticate, authorize
from api.timeseries.window import Window, window_params
from fleet.blobs.store import BlobStore
from fleet.db.models import utcnow
from fleet.registry.credentials import CredentialBroker
from fleet.settings import FilesSettings
from fleet.tenancy import service as tenancy
from fleet.tenancy.roles import Role

bearer = HTTPBearer(auto_error=False, description="An API token of your tenant: `Authorization: Bearer <token>`")


def get_engine(request: Request) -> Engine:
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


def require(role: Role) -> Callable[[Principal], Principal]:
    """A dependency answering 403 unless the request's token has `role` (or a role including it)."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        return authorize(principal, role)

    check.__name__ = f"require_{role}"
    return check


# Every /v1 route declares the role it needs with one of these; each returns the caller's Principal.
ViewerDep = Annotated[Principal, Depends(require(Role.VIEWER))]
OperatorDep = Annotated[Principal, Depends(require(Role.OPERATOR))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
WindowDep = Annotated[Window, Depends(window_params)]


def get_credential_broker(request: Request) -> CredentialBroker | None:
    """Where vehicle credentials are issued, or None when this deployment manages none (FLEET_BROKER_ADMIN_URL)."""
    broker: CredentialBroker | None = request.app.state.credential_broker
    return broker


CredentialBrokerDep = Annotated[CredentialBroker | None, Depends(get_credential_broker)]


def get_blob_store(request: Request) -> BlobStore:
    """Where the files' bytes are: S3, or the local folder whose signed URLs the API serves itself."""
    store: BlobStore = request.app.state.blob_store
    return store


def get_files_settings(request: Request) -> FilesSettings:
    """The file flow's settings (FLEET_FILES_*): the default tachograph periods."""
    settings: FilesSettings = request.app.state.files_settings
    return settings


BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]
FilesSettingsDep = Annotated[FilesSettings, Depends(get_files_settings)]
