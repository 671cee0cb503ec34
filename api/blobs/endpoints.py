"""HTTP routes of the blob endpoint: the local store's signed URLs (S3's point at S3; here they answer 404)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.blobs import service
from api.blobs.ranges import range_response
from api.deps import BlobStoreDep
from api.errors import ErrorOut
from fleet.blobs.store import content_disposition

Responses = dict[int | str, dict[str, Any]]
BYTES: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
SIGNED_RESPONSES: Responses = {
    403: {"model": ErrorOut, "description": "The signed URL does not allow this: tampered, expired, another length"},
    404: {"model": ErrorOut, "description": "No such object, or this deployment keeps files in S3"},
    503: {"model": ErrorOut, "description": "The store cannot be read or written now"},
}

router = APIRouter(prefix="/v1/blobs", tags=["blobs"], responses={**SIGNED_RESPONSES})


def signed_query(
    expires: Annotated[str | None, Query(description="Unix time after which the URL is refused")] = None,
    length: Annotated[str | None, Query(description="The Content-Length a PUT must have")] = None,
    sha256: Annotated[str | None, Query(description="The SHA-256 a PUT's body must have")] = None,
    upload_id: Annotated[str | None, Query(description="The multipart upload a PUT writes a part of")] = None,
    part: Annotated[str | None, Query(description="The part number a PUT writes")] = None,
    filename: Annotated[str | None, Query(description="The download name a GET answers with")] = None,
    signature: Annotated[str | None, Query(description="HMAC-SHA256 over the method, the key and the rest")] = None,
) -> dict[str, str]:
    """The parameters a signed URL has, as `verify_signature` takes them."""
    given = {
        "expires": expires,
        "length": length,
        "sha256": sha256,
        "upload_id": upload_id,
        "part": part,
        "filename": filename,
        "signature": signature,
    }
    return {name: value for name, value in given.items() if value is not None}


SignedQueryDep = Annotated[dict[str, str], Depends(signed_query)]


@router.put(
    "/{key:path}",
    summary="Upload with a signed URL",
    response_class=Response,
    responses={200: {"description": "Stored", "headers": {"ETag": {"schema": {"type": "string"}}}}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": BYTES}}},
)
async def put_blob(request: Request, store: BlobStoreDep, key: str, query: SignedQueryDep) -> Response:
    """Store exactly the bytes a signed URL of the local store allows; the URL is the grant (no bearer token)."""
    header = request.headers.get("content-length")
    length = int(header) if header is not None and header.isascii() and header.isdigit() else None
    etag = await run_in_threadpool(service.receive, store, key, query, length, request.stream())
    return Response(headers={"ETag": f'"{etag}"'})


@router.get(
    "/{key:path}",
    summary="Download with a signed URL",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The object", "content": {"application/octet-stream": BYTES}},
        206: {"description": "The byte range asked for", "content": {"application/octet-stream": BYTES}},
        416: {"model": ErrorOut, "description": "The range starts past the end of the object"},
    },
)
def get_blob(
    store: BlobStoreDep,
    key: str,
    query: SignedQueryDep,
    range_header: Annotated[str | None, Header(alias="Range", description="One byte range, `bytes=0-1023`")] = None,
) -> StreamingResponse:
    """The object (or the byte range asked for) a signed URL of the local store allows; no bearer token."""
    reader, partial, filename = service.read(store, key, query, range_header)
    headers = {"Content-Disposition": content_disposition(filename)} if filename is not None else None
    return range_response(reader, partial, "application/octet-stream", headers)
