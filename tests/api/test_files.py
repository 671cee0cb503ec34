"""Files over HTTP: listing and paging, one file, its download (local store with Range, S3 by redirect), legal holds.

Every test runs on PostgreSQL and on SQLite, with file rows in every state inserted as ingest and the worker leave
them, and the bytes of verified ones in a local store in a temp dir.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.files.service import download_name
from fleet.blobs.keys import file_key
from fleet.blobs.local import LocalBlobStore
from fleet.blobs.s3 import S3BlobStore
from fleet.db.models import File
from fleet.files.states import FileState
from fleet.tenancy.roles import Role
from tests.api.conftest import (
    BASE_TS,
    Database,
    SeededTenant,
    add_file,
    add_token,
    bearer,
    iso,
    make_app,
    parse,
    seed_tenant,
)
from tests.fixtures.s3 import REGION, SeaweedServer

pytestmark = pytest.mark.integration

SIGNING_KEY = b"files-test-signing-key-0123456789"
DATA = bytes(range(256)) * 40  # 10,240 bytes


@dataclass
class Env:
    """An app on one database with a tenant (two vehicles, a token of each role) and another tenant."""

    url: str
    client: TestClient
    sessions: sessionmaker[Session]
    store: LocalBlobStore
    tenant: SeededTenant
    other: SeededTenant
    headers: dict[str, dict[str, str]]

    @property
    def devices(self) -> list[str]:
        """The tenant's device ids, sorted."""
        return self.tenant.device_ids

    def get(self, path: str, role: str = "viewer", **kwargs: Any) -> httpx.Response:
        """GET with a token of `role`."""
        return self.client.get(path, headers={**self.headers[role], **kwargs.pop("headers", {})}, **kwargs)

    def stored_file(self, file_id: str, data: bytes = DATA, **fields: Any) -> int:
        """A verified file of the tenant's first vehicle whose bytes are in the store; its id."""
        device = self.devices[0]
        kind, offered_at = fields.get("kind", "log"), fields.get("offered_at", BASE_TS)
        self.store.put_bytes(file_key(self.tenant.id, device, kind, offered_at, file_id), data)
        sha256 = hashlib.sha256(data).hexdigest()
        return add_file(self.sessions, self.tenant, device, file_id, size_bytes=len(data), sha256=sha256, **fields)


@pytest.fixture
def env(database: Database, tmp_path: Path, unique: str) -> Iterator[Env]:
    sessions = database.sessions
    tenant = seed_tenant(sessions, f"files-{unique}", [f"bus-{unique}-1", f"bus-{unique}-2"])
    other = seed_tenant(sessions, f"files-other-{unique}", [f"bus-{unique}-9"])
    headers = {role.value: bearer(add_token(sessions, tenant.id, role, role.value)[1]) for role in Role}
    store = LocalBlobStore(tmp_path / "blobs", SIGNING_KEY, "http://testserver/v1/blobs")
    with TestClient(make_app(database.url, blob_store=store)) as client:
        yield Env(database.url, client, sessions, store, tenant, other, headers)


def files_in_every_state(env: Env) -> dict[FileState, int]:
    """One empty file per state on the first vehicle, offered a minute apart in the order of the enum."""
    device = env.devices[0]
    ids = {}
    for minute, state in enumerate(FileState):
        error = "sha256 differs" if state in (FileState.REJECTED, FileState.FAILED) else None
        offered_at = BASE_TS + timedelta(minutes=minute)
        ids[state] = add_file(
            env.sessions, env.tenant, device, f"f-{state}", state=state, error=error, offered_at=offered_at
        )
        if state == FileState.VERIFIED:
            env.store.put_bytes(file_key(env.tenant.id, device, "log", offered_at, f"f-{state}"), b"")
    return ids


# --- listing ---------------------------------------------------------------------------------------------------


def test_files_in_every_state_are_listed_newest_first(env: Env) -> None:
    ids = files_in_every_state(env)
    add_file(env.sessions, env.other, env.other.device_ids[0], "theirs")

    response = env.get("/v1/files")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["id"] for item in items] == [ids[state] for state in reversed(FileState)]
    assert response.json()["next"] is None
    by_state = {item["state"]: item for item in items}
    assert set(by_state) == {state.value for state in FileState}
    verified = by_state["verified"]
    assert verified["content_url"] == f"/v1/files/{ids[FileState.VERIFIED]}/content"
    assert all(item["content_url"] is None for item in items if item["state"] != "verified")
    assert by_state["rejected"]["error"] == "sha256 differs"
    assert set(verified) == {
        *("id", "device_id", "file_id", "kind", "name", "content_type", "size_bytes", "sha256", "state", "error"),
        *("offered_at", "uploaded_at", "verified_at", "started_at", "ended_at", "camera", "driver_card_id"),
        *("event_id", "command_id", "legal_hold", "legal_hold_reason", "retain_until", "content_url"),
    }
    assert (verified["device_id"], verified["file_id"], verified["legal_hold"]) == (env.devices[0], "f-verified", False)
    assert parse(verified["offered_at"]) == BASE_TS + timedelta(minutes=2)


def test_filters_by_vehicle_kind_state_and_offer_time(env: Env) -> None:
    first, second = env.devices
    clip = add_file(env.sessions, env.tenant, first, "clip", kind="video", offered_at=BASE_TS)
    log = add_file(env.sessions, env.tenant, second, "log", state=FileState.OFFERED, offered_at=BASE_TS)
    late = add_file(env.sessions, env.tenant, second, "late", offered_at=BASE_TS + timedelta(hours=1))

    def ids(**params: str) -> list[int]:
        response = env.get("/v1/files", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(vehicle=first) == [clip]
    assert ids(vehicle=second) == [late, log]
    assert ids(kind="video") == [clip]
    assert ids(state="offered") == [log]
    assert ids(since=iso(BASE_TS + timedelta(minutes=1))) == [late]
    assert ids(until=iso(BASE_TS + timedelta(hours=1))) == [log, clip]
    assert ids(vehicle=second, since=iso(BASE_TS), until=iso(BASE_TS + timedelta(seconds=1))) == [log]
    other_vehicle = env.get("/v1/files", params={"vehicle": env.other.device_ids[0]})
    assert other_vehicle.status_code == 404
    assert env.get("/v1/files", params={"vehicle": "no/such bus"}).status_code == 404
    assert env.get("/v1/files", params={"kind": "movie"}).status_code == 422
    assert env.get("/v1/files", params={"state": "lost"}).status_code == 422


def test_paging_never_skips_or_repeats_files_sharing_an_offer_time(env: Env) -> None:
    device = env.devices[0]
    same = [add_file(env.sessions, env.tenant, device, f"same-{i}", offered_at=BASE_TS) for i in range(5)]
    newer = add_file(env.sessions, env.tenant, device, "newer", offered_at=BASE_TS + timedelta(seconds=1))
    older = add_file(env.sessions, env.tenant, device, "older", offered_at=BASE_TS - timedelta(seconds=1))

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = env.get("/v1/files", params=params).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        if (cursor := body["next"]) is None:
            break

    assert seen == [newer, *sorted(same, reverse=True), older]
    assert pages == 4


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        {"since": "2026-03-01T00:00:00"},  # no offset
        {"since": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
        {"until": "0.5"},  # a Unix time
        {"limit": "0"},
        {"limit": "501"},
    ],
)
def test_bad_paging_parameters_are_422(env: Env, params: dict[str, str]) -> None:
    assert env.get("/v1/files", params=params).status_code == 422


# --- one file ----------------------------------------------------------------------------------------------------


def test_get_a_file_and_nobody_elses(env: Env) -> None:
    mine = add_file(env.sessions, env.tenant, env.devices[0], "mine", camera="front", event_id="evt-1")
    theirs = add_file(env.sessions, env.other, env.other.device_ids[0], "theirs")

    response = env.get(f"/v1/files/{mine}")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["camera"], response.json()["event_id"]) == (mine, "front", "evt-1")
    for unknown in (theirs, 0, -1, 2**63, 10**30):
        for path in (f"/v1/files/{unknown}", f"/v1/files/{unknown}/content"):
            answer = env.get(path)
            assert answer.status_code == 404, path
            assert answer.json() == {"detail": f"no file {str(unknown)[:20]}"}
    assert env.get("/v1/files/abc").status_code == 422


# --- download ----------------------------------------------------------------------------------------------------


def test_only_a_verified_file_is_downloaded(env: Env) -> None:
    ids = files_in_every_state(env)

    for state, file_id in ids.items():
        response = env.get(f"/v1/files/{file_id}/content")
        if state == FileState.VERIFIED:
            assert response.status_code == 200 and response.content == b""
        else:
            assert response.status_code == 409
            assert response.json() == {"detail": f"file {file_id} is {state}: only a verified file can be downloaded"}


def test_a_download_streams_the_bytes_with_their_headers(env: Env) -> None:
    file_id = env.stored_file("clip-1", content_type="video/mp4", name='Front "cam".mp4')

    response = env.get(f"/v1/files/{file_id}/content")

    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Front _cam_.mp4\"; filename*=UTF-8''Front%20_cam_.mp4"
    )
    assert "content-range" not in response.headers


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=10240-", None, None),  # from the end: nothing left
        ("bytes=10000-", 10000, 10239),
        ("bytes=10000-99999", 10000, 10239),
        ("bytes=-16", 10224, 10239),
        ("bytes=-99999", 0, 10239),
        ("bytes=0-0", 0, 0),
    ],
)
def test_a_range_is_answered_206_or_416(env: Env, header: str, start: int | None, end: int | None) -> None:
    file_id = env.stored_file("ranged")

    response = env.get(f"/v1/files/{file_id}/content", headers={"Range": header})

    if start is None or end is None:
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{len(DATA)}"
        assert "detail" in response.json()
    else:
        assert response.status_code == 206, response.text
        assert response.content == DATA[start : end + 1]
        assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
        assert response.headers["content-length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=20-10", "items=0-5", "bytes=-", "bytes=x-", ""])
def test_a_range_that_is_not_one_byte_range_is_ignored(env: Env, header: str) -> None:
    file_id = env.stored_file("whole")

    response = env.get(f"/v1/files/{file_id}/content", headers={"Range": header})

    assert response.status_code == 200 and response.content == DATA


def test_no_range_of_an_empty_file_is_satisfiable(env: Env) -> None:
    file_id = env.stored_file("empty", data=b"")

    assert env.get(f"/v1/files/{file_id}/content").status_code == 200
    for header in ("bytes=0-", "bytes=-1"):
        response = env.get(f"/v1/files/{file_id}/content", headers={"Range": header})
        assert response.status_code == 416 and response.headers["content-range"] == "bytes */0"


def test_every_download_is_in_the_audit_log(env: Env) -> None:
    file_id = env.stored_file("audited", kind="tachograph_vu")
    offered = add_file(env.sessions, env.tenant, env.devices[0], "offered", state=FileState.OFFERED)

    assert env.get(f"/v1/files/{file_id}/content").status_code == 200
    assert env.get(f"/v1/files/{file_id}/content", headers={"Range": "bytes=0-9"}).status_code == 206
    assert env.get(f"/v1/files/{file_id}/content", headers={"Range": "bytes=99999-"}).status_code == 416
    assert env.get(f"/v1/files/{offered}/content").status_code == 409

    entries = env.get("/v1/audit", "admin", params={"action": "file.download"}).json()["items"]
    assert [(e["target"], e["actor"], e["detail"]["range"]) for e in entries] == [
        (str(file_id), "viewer", "bytes=0-9"),
        (str(file_id), "viewer", None),
    ]
    assert entries[0]["detail"] | {"range": None} == {
        "device_id": env.devices[0],
        "file_id": "audited",
        "kind": "tachograph_vu",
        "range": None,
    }


def test_a_download_from_s3_is_a_redirect_to_a_presigned_url(env: Env, s3: SeaweedServer) -> None:
    store = S3BlobStore(
        s3.create_bucket(),
        endpoint_url=s3.endpoint_url,
        region=REGION,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
    )
    file_id = add_file(
        env.sessions, env.tenant, env.devices[0], "on-s3", size_bytes=len(DATA),
        sha256=hashlib.sha256(DATA).hexdigest(), name="tacho 1.ddd",
    )  # fmt: skip
    with env.sessions() as session:
        store.put_bytes(session.get_one(File, file_id).object_key, DATA)
    with TestClient(make_app(env.url, blob_store=store)) as client:
        response = client.get(f"/v1/files/{file_id}/content", headers=env.headers["viewer"], follow_redirects=False)
        not_verified = add_file(env.sessions, env.tenant, env.devices[0], "pending", state=FileState.UPLOADED)
        refused = client.get(f"/v1/files/{not_verified}/content", headers=env.headers["viewer"])

    assert response.status_code == 307
    location = response.headers["location"]
    assert location.startswith(s3.endpoint_url)
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["300"]
    downloaded = httpx.get(location, timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == DATA
    assert "filename*=UTF-8''tacho%201.ddd" in downloaded.headers["content-disposition"]
    assert refused.status_code == 409
    audit = env.get("/v1/audit", "admin", params={"action": "file.download"}).json()["items"]
    assert [e["target"] for e in audit] == [str(file_id)]


def test_download_names_lose_what_a_header_cannot_carry() -> None:
    assert download_name('a "quoted"\\name') == "a _quoted__name"
    assert download_name("Fahrt \u00fcber Land.ddd") == "Fahrt \u00fcber Land.ddd"


# --- legal hold --------------------------------------------------------------------------------------------------


def test_an_operator_places_and_releases_a_legal_hold(env: Env) -> None:
    file_id = add_file(env.sessions, env.tenant, env.devices[0], "evidence", kind="video")
    url = f"/v1/files/{file_id}/legal-hold"

    held = env.client.put(url, headers=env.headers["operator"], json={"hold": True, "reason": "case 2026-17"})
    again = env.client.put(url, headers=env.headers["operator"], json={"hold": True, "reason": "case 2026-17"})
    shown = env.get(f"/v1/files/{file_id}")
    listed = env.get("/v1/files").json()["items"]
    released = env.client.put(url, headers=env.headers["admin"], json={"hold": False, "reason": "case closed"})

    assert held.status_code == again.status_code == released.status_code == 200
    assert (held.json()["legal_hold"], held.json()["legal_hold_reason"]) == (True, "case 2026-17")
    assert (shown.json()["legal_hold"], listed[0]["legal_hold"]) == (True, True)
    assert (released.json()["legal_hold"], released.json()["legal_hold_reason"]) == (False, None)
    entries = env.get("/v1/audit", "admin", params={"action": "file.legal_hold"}).json()["items"]
    assert [(e["actor"], e["target"], e["detail"]["hold"], e["detail"]["reason"]) for e in entries] == [
        ("admin", str(file_id), False, "case closed"),
        ("operator", str(file_id), True, "case 2026-17"),  # the repeated hold recorded nothing
    ]
    assert entries[0]["detail"]["device_id"] == env.devices[0] and entries[0]["detail"]["file_id"] == "evidence"


def test_a_viewer_cannot_hold_and_nobody_holds_anothers_file(env: Env) -> None:
    mine = add_file(env.sessions, env.tenant, env.devices[0], "mine")
    theirs = add_file(env.sessions, env.other, env.other.device_ids[0], "theirs")
    body = {"hold": True, "reason": None}

    viewer = env.client.put(f"/v1/files/{mine}/legal-hold", headers=env.headers["viewer"], json=body)
    foreign = env.client.put(f"/v1/files/{theirs}/legal-hold", headers=env.headers["admin"], json=body)
    too_long = env.client.put(
        f"/v1/files/{mine}/legal-hold", headers=env.headers["operator"], json={"hold": True, "reason": "x" * 501}
    )

    assert viewer.status_code == 403
    assert "operator role" in viewer.json()["detail"]
    assert foreign.status_code == 404
    assert too_long.status_code == 422
    assert env.get(f"/v1/files/{mine}").json()["legal_hold"] is False
    assert env.client.get(f"/v1/files/{theirs}", headers=env.other.headers).json()["legal_hold"] is False
