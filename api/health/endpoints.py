"""HTTP routes of the health module: /healthz, /readyz, /metrics."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api import metrics as api_metrics
from api.deps import EngineDep
from api.errors import ErrorOut
from api.health import service
from api.health.schemas import StatusOut

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
def healthz() -> StatusOut:
    """The process is alive; does not touch the database."""
    return StatusOut()


@router.get(
    "/readyz",
    summary="Readiness",
    responses={503: {"model": ErrorOut, "description": "The database is unreachable"}},
)
def readyz(engine: EngineDep) -> StatusOut:
    """Ready to serve: the database answers `SELECT 1`."""
    service.check_database(engine)
    return StatusOut()


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus text exposition of the default registry (of every worker's, with several)."""
    return Response(api_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
