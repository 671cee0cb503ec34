"""A stand-in for the API's blob endpoint (built later), so units' HTTP requests reach the local store in tests.

It does what the endpoint will do: check the signed URL with `verify_signature`, then store the body of a PUT
(`receive_object` or `receive_part`) or answer a GET with `open_range`, Range included.
"""

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from fleet.blobs.local import DEFAULT_BASE_URL, LocalBlobStore
from fleet.blobs.store import RangeNotSatisfiable, content_disposition
from fleet.errors import FleetError

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class _Handler(BaseHTTPRequestHandler):
    store: ClassVar[LocalBlobStore]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _target(self) -> tuple[str, dict[str, str]]:
        url = urlsplit(self.path)
        if not url.path.startswith(DEFAULT_BASE_URL + "/"):
            raise _HttpError(404, "not a blob URL")
        return unquote(url.path[len(DEFAULT_BASE_URL) + 1 :]), dict(parse_qsl(url.query, keep_blank_values=True))

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client is gone (an interrupted upload)
            self.close_connection = True

    def _body(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(65536, remaining))
            if not chunk:  # the client went away mid-body
                return
            remaining -= len(chunk)
            yield chunk

    def do_PUT(self) -> None:
        try:
            key, query = self._target()
            header = self.headers.get("Content-Length")
            length = int(header) if header is not None and header.isdigit() else None
            grant = self.store.verify_signature("PUT", key, query, length)
            assert length is not None  # the signature binds a length
            if grant.upload_id is not None and grant.part_number is not None:
                part = self.store.receive_part(key, grant.upload_id, grant.part_number, self._body(length), length)
                self._answer(200, headers={"ETag": f'"{part.etag}"'})
            else:
                info = self.store.receive_object(key, self._body(length), length, grant.sha256_hex)
                self._answer(200, headers={"ETag": f'"{info.etag}"'})
        except _HttpError as error:
            self._answer(error.status, error.detail.encode())
        except FleetError as error:
            self.close_connection = True
            self._answer(error.http_status, error.detail.encode())

    def do_GET(self) -> None:
        try:
            key, query = self._target()
            grant = self.store.verify_signature("GET", key, query)
            wanted = _RANGE.fullmatch(self.headers.get("Range", ""))
            if wanted:
                end = int(wanted.group(2)) if wanted.group(2) else None
                reader = self.store.open_range(key, int(wanted.group(1)), end)
            else:
                reader = self.store.open_range(key)
            headers = {"Accept-Ranges": "bytes"}
            if grant.filename is not None:
                headers["Content-Disposition"] = content_disposition(grant.filename)
            if wanted:
                headers["Content-Range"] = reader.content_range
            self._answer(206 if wanted else 200, reader.read(), headers)
        except RangeNotSatisfiable as error:
            self._answer(416, headers={"Content-Range": f"bytes */{error.size}"})
        except _HttpError as error:
            self._answer(error.status, error.detail.encode())
        except FleetError as error:
            self._answer(error.http_status, error.detail.encode())


class _HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class LocalEndpoint:
    """The endpoint on a free loopback port, serving one store; `base_url` is what the store signs URLs for."""

    def __init__(self) -> None:
        # A class per endpoint: the store is a class attribute, as BaseHTTPRequestHandler needs it.
        self._handler: type[_Handler] = type("Handler", (_Handler,), {})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}{DEFAULT_BASE_URL}"
        # A short poll: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def serve(self, store: LocalBlobStore) -> None:
        """Start serving `store`."""
        self._handler.store = store
        self._thread.start()

    def close(self) -> None:
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()
