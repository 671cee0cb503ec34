"""Request dependencies as `Annotated` aliases, so a route reads like a sentence."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.tenancy import service as tenancy
from api.timeseries.window import Window, window_params
from fleet.db.models import Tenant

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


def get_tenant(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Tenant:
    """The tenant owning the request's bearer token; 401 without a valid one."""
    return tenancy.authenticate(session, credentials.credentials if credentials else None)


TenantDep = Annotated[Tenant, Depends(get_tenant)]
WindowDep = Annotated[Window, Depends(window_params)]
