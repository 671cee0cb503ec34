"""HTTP routes of the files module."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import AwareDatetime, BeforeValidator

from api.blobs.ranges import open_requested, range_response
from api.deps import BlobStoreDep, OperatorDep, SessionDep, ViewerDep
from api.errors import FORBIDDEN_RESPONSE, NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.files import service
from api.files.schemas import FileOut, FilePage, LegalHoldIn
from api.timeseries.window import MAX_CURSOR_LENGTH
from fleet.blobs.local import LocalBlobStore
from fleet.contract.records import FileKind
from fleet.files.states import FileState

router = APIRouter(prefix="/v1/files", tags=["files"], responses={**UNAUTHORIZED_RESPONSE})

Responses = dict[int | str, dict[str, Any]]
FILE_NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No such file among yours"}}
BYTES: dict[str, Any] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
CONTENT_RESPONSES: Responses = {
    200: {"description": "The file's bytes, with its content type", "content": BYTES},
    206: {"description": "The byte range asked for", "content": BYTES},
    307: {
        "description": "The file is in S3: a download URL valid for 5 minutes",
        "headers": {"Location": {"schema": {"type": "string"}}},
    },
    409: {"model": ErrorOut, "description": "The file is not verified (yet): nothing to download"},
    416: {"model": ErrorOut, "description": "The range starts past the end of the file"},
    503: {"model": ErrorOut, "description": "The store cannot be read now"},
}
# A page holds metadata only: 500 files are a few hundred kilobytes.
MAX_LIMIT = 500
FileIdPath = Annotated[int, Path(description="The file's `id`; one that is not yours is a 404")]
_RFC3339_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _rfc3339(value: object) -> object:
    """Refuse what pydantic would read as a Unix time (`until=0.5`): a bound is an RFC 3339 date and time."""
    if isinstance(value, str) and not _RFC3339_DATE_TIME.match(value):
        raise ValueError("expected an RFC 3339 timestamp with an offset, e.g. 2026-03-01T08:00:00Z")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


@router.get("", summary="List files", responses={**NOT_FOUND_RESPONSE})
def list_files(
    session: SessionDep,
    principal: ViewerDep,
    vehicle: Annotated[str | None, Query(description="Only this vehicle's files (its device id)")] = None,
    kind: Annotated[FileKind | None, Query(description="Only files of this kind")] = None,
    state: Annotated[FileState | None, Query(description="Only files in this state")] = None,
    since: Annotated[Timestamp | None, Query(description="Offered at or after (RFC 3339 with offset)")] = None,
    until: Annotated[Timestamp | None, Query(description="Offered before (RFC 3339 with offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next` of the previous page")
    ] = None,
) -> FilePage:
    """Files of your vehicles' units, newest offer first; pass `next` as `cursor` with the same filters to go on."""
    return service.list_files(
        session,
        principal.tenant_id,
        device_id=vehicle,
        kind=kind,
        state=state,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


@router.get("/{id}", summary="Get a file", responses={**FILE_NOT_FOUND})
def get_file(session: SessionDep, principal: ViewerDep, id: FileIdPath) -> FileOut:
    """One of your files, with its state and retention."""
    return service.get_file(session, principal.tenant_id, id)


@router.get(
    "/{id}/content",
    summary="Download a file",
    response_class=Response,
    responses={**FILE_NOT_FOUND, **CONTENT_RESPONSES},
)
def file_content(
    session: SessionDep,
    principal: ViewerDep,
    store: BlobStoreDep,
    id: FileIdPath,
    range_header: Annotated[str | None, Header(alias="Range", description="One byte range, `bytes=0-1023`")] = None,
) -> Response:
    """The bytes of a verified file (Range allowed), or a redirect to S3; every download is in the audit log."""
    file = service.start_download(session, principal, id, range_header)
    if not isinstance(store, LocalBlobStore):
        return RedirectResponse(service.download_url(store, file), status_code=307)
    reader, partial = open_requested(store, file.object_key, file.size_bytes, range_header)
    return range_response(reader, partial, file.content_type, service.download_headers(file))


@router.put(
    "/{id}/legal-hold", summary="Place or release a legal hold", responses={**FILE_NOT_FOUND, **FORBIDDEN_RESPONSE}
)
def set_legal_hold(session: SessionDep, principal: OperatorDep, id: FileIdPath, body: LegalHoldIn) -> FileOut:
    """Keep a file past its retention (evidence of an incident) or let it go again; needs the operator role, audited."""
    return service.set_legal_hold(session, principal, id, body)
