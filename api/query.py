"""Unknown query parameters are refused: `?sinc=...` for `since` must not silently mean the default window."""

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from fleet.errors import Invalid


async def reject_unknown_query_parameters(request: Request) -> None:
    """422 naming the first query parameter the matched route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known(route)
    for name in request.query_params:
        if name not in known:
            accepted = ", ".join(sorted(known)) or "none"
            raise Invalid(f"unknown query parameter {name[:40]!r}; this route accepts: {accepted}")


def _known(route: APIRoute) -> frozenset[str]:
    cached: frozenset[str] | None = getattr(route, "_fleet_query_names", None)
    if cached is None:
        cached = frozenset(_query_names(route.dependant))
        route._fleet_query_names = cached  # type: ignore[attr-defined]
    return cached


def _query_names(dependant: Dependant) -> set[str]:
    """Query parameter names of a dependant and of everything it depends on."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
