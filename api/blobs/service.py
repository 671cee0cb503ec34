"""The local store's signed URLs over HTTP: the signature checked first, then the body stored or the object read."""

from collections.abc import AsyncIterator, Iterator, Mapping

from anyio import from_thread
from starlette.requests import ClientDisconnect

from api.blobs.ranges import open_requested
from fleet.blobs.local import LocalBlobStore
from fleet.blobs.store import BlobReader, BlobStore
from fleet.errors import NotFound


def local_store(store: BlobStore) -> LocalBlobStore:
    """`store` when it is the local one; NotFound on S3, whose URLs point at S3 itself."""
    if not isinstance(store, LocalBlobStore):
        raise NotFound("no blob endpoint here: this deployment keeps files in S3")
    return store


def receive(
    store: BlobStore, key: str, query: Mapping[str, str], content_length: int | None, body: AsyncIterator[bytes]
) -> str:
    """Store the body of a signed PUT (an object or a part) from a worker thread; the stored bytes' etag."""
    local = local_store(store)
    grant = local.verify_signature("PUT", key, query, content_length)
    assert content_length is not None  # the signature binds the length
    chunks = _from_event_loop(body)
    if grant.upload_id is not None and grant.part_number is not None:
        return local.receive_part(key, grant.upload_id, grant.part_number, chunks, content_length).etag
    return local.receive_object(key, chunks, content_length, grant.sha256_hex).etag


def read(
    store: BlobStore, key: str, query: Mapping[str, str], range_header: str | None
) -> tuple[BlobReader, bool, str | None]:
    """The bytes a signed GET asks for, whether they are a range, and the download name the URL carries."""
    local = local_store(store)
    grant = local.verify_signature("GET", key, query)
    info = local.head(key)
    if info is None:
        raise NotFound(f"no object {key}")
    reader, partial = open_requested(local, key, info.size, range_header)
    return reader, partial, grant.filename


def _from_event_loop(body: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body chunk by chunk, each awaited on the event loop; it ends early when the client goes away."""
    while True:
        try:
            chunk = from_thread.run(_next_chunk, body)
        except (StopAsyncIteration, ClientDisconnect):
            return
        yield chunk


async def _next_chunk(body: AsyncIterator[bytes]) -> bytes:
    return await anext(body)
