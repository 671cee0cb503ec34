"""Parquet files of the archive: written a row group per batch to a temporary file, read back by byte range.

Compression is zstd (level 3, pyarrow's default): the cold tier is written once and read rarely, and zstd makes
telemetry files about a third smaller than snappy for a decoding cost that does not matter there. The writer
is deterministic: the same rows in the same order make the same bytes (for the same pyarrow version), which is
what lets a repeated export converge on the same objects.
"""

import hashlib
import io
import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fleet.archive.layout import ArchivedTable
from fleet.blobs.store import BlobStore
from fleet.errors import NotFound

CONTENT_TYPE = "application/vnd.apache.parquet"
COMPRESSION: Final = "zstd"
# The footer is read with one request of this size (pyarrow then asks for what it needs beyond it).
FOOTER_READ_BYTES = 64 * 1024
HASH_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ParquetPart:
    """A written file, open at its start, and what the manifest says of it."""

    file: BinaryIO
    size: int
    rows: int
    sha256: str
    min_ts: datetime
    max_ts: datetime


def _json_text(value: Any) -> str | None:
    """An event's `data` as canonical JSON text (sorted keys), None kept."""
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_arrow(table: ArchivedTable, rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Rows in the file's column order as an Arrow table of the file's schema."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in table.columns]
    arrays = []
    for field, values in zip(table.schema, columns, strict=True):
        if field.name == "data":
            values = tuple(_json_text(value) for value in values)
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=table.schema)


def _sha256(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    while chunk := file.read(HASH_CHUNK_BYTES):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


@contextmanager
def write_part(table: ArchivedTable, batches: Iterable[Sequence[Sequence[Any]]]) -> Iterator[ParquetPart | None]:
    """The Parquet file of `batches` (one row group each), or None when they hold no row, for the `with` block.

    The file is an anonymous temporary file (nothing is left behind by a kill), hashed and uploaded from there:
    memory holds one batch of rows, whatever the size of the file.
    """
    rows = 0
    low: datetime | None = None
    high: datetime | None = None
    with tempfile.TemporaryFile() as scratch:
        writer = pq.ParquetWriter(scratch, table.schema, compression=COMPRESSION)
        try:
            for batch in batches:
                if not batch:
                    continue
                arrow = to_arrow(table, batch)
                writer.write_table(arrow, row_group_size=arrow.num_rows)
                times = arrow.column(table.time_column)
                first, last = pc.min(times).as_py(), pc.max(times).as_py()
                low = first if low is None else min(low, first)
                high = last if high is None else max(high, last)
                rows += arrow.num_rows
        finally:
            writer.close()
        if low is None or high is None:
            yield None
            return
        size = scratch.tell()
        yield ParquetPart(scratch, size, rows, _sha256(scratch), low, high)


class BlobFile(io.RawIOBase):
    """An object of the blob store as a read-only, seekable file: each read is one ranged request, so pyarrow
    reads the footer and the row groups it needs without the whole object in memory."""

    def __init__(self, store: BlobStore, key: str, size: int | None = None) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._position = 0
        if size is None:
            info = store.head(key)
            if info is None:
                raise NotFound(f"no object {key}")
            size = info.size
        self._size = size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self._size - self._position)
        if wanted <= 0:
            return 0
        with self._store.open_range(self._key, self._position, self._position + wanted - 1) as reader:
            received = 0
            for chunk in reader:
                view[received : received + len(chunk)] = chunk
                received += len(chunk)
        self._position += received
        return received


def open_part(store: BlobStore, key: str, size: int | None = None) -> pq.ParquetFile:
    """A part read through the store, its footer fetched in one request."""
    return pq.ParquetFile(io.BufferedReader(BlobFile(store, key, size), FOOTER_READ_BYTES))


def row_count(store: BlobStore, key: str, size: int | None = None) -> int:
    """The rows a part's footer says it holds."""
    return int(open_part(store, key, size).metadata.num_rows)


def read_batches(store: BlobStore, key: str, batch_rows: int, size: int | None = None) -> Iterator[pa.RecordBatch]:
    """A part's rows, `batch_rows` at a time."""
    yield from open_part(store, key, size).iter_batches(batch_size=batch_rows)
