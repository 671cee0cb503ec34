"""Object keys: the one layout, built only here, from validated parts (docs/storage.md).

    tenants/<tenant_id>/devices/<device_id>/<kind>/<YYYY>/<MM>/<DD>/<file_id>

- the tenant first, so one prefix holds everything of a tenant (an export, a deletion, an IAM policy);
- then the device, the kind (`video`, `tachograph_vu`, ...) and the UTC day the unit offered the file, so a
  lifecycle rule or a listing can select by kind and age without reading the database;
- last the unit's own `file_id`.

Every component is checked against a narrow pattern (ids from the wire contract, a number, a date) and refused
with `Invalid` otherwise; anything else that must become part of a key goes through `escape_segment`, which
percent-encodes every character outside `A-Z a-z 0-9 _ -`. So no key holds `..`, an empty segment, a NUL, a
backslash or a `/` that was not put there by this module, and the local store can map keys to paths safely.
The key is stored with the file's row and read back from there, never rebuilt from a name.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import unquote

from fleet.contract.topics import DEVICE_ID_PATTERN
from fleet.errors import Invalid

# S3's limit on a key's UTF-8 length.
MAX_KEY_BYTES = 1024
# What any key given to a store may hold: the characters escape_segment leaves or produces, plus `.` and `~`
# (unreserved in URLs, so presigned URLs carry keys unchanged), in non-empty segments separated by `/`.
KEY_PATTERN = re.compile(r"[A-Za-z0-9._~%-]+(?:/[A-Za-z0-9._~%-]+)*")
# A unit's file id (the wire contract's rule): unique per device.
FILE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A file kind: a short lower-case word (the contract's enum: tachograph_vu, tachograph_card, video, image, log).
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
_SEGMENT_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_FILE_KEY = re.compile(
    r"tenants/(?P<tenant>[1-9][0-9]{0,18})/devices/(?P<device>[A-Za-z0-9_-]{1,64})/(?P<kind>[a-z][a-z0-9_]{0,31})"
    r"/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/(?P<day>[0-9]{2})/(?P<file>[A-Za-z0-9_-]{1,64})"
)
# PostgreSQL's bigint, the type of tenant ids.
_MAX_TENANT_ID = 2**63 - 1


def validate_key(key: str) -> str:
    """`key` itself when a store may use it; `Invalid` otherwise (`..`, empty segments, NUL, `\\`, too long)."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise Invalid(f"invalid object key {key!r}")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise Invalid(f"object key longer than {MAX_KEY_BYTES} bytes")
    if any(segment in (".", "..") for segment in key.split("/")):
        raise Invalid(f"invalid object key {key!r}: a segment is . or ..")
    return key


def escape_segment(name: str) -> str:
    """`name` as one key segment: each character outside `A-Z a-z 0-9 _ -` as %XX of its UTF-8 bytes.

    Reversible (`unescape_segment`), and the result never contains `/`, `.` or anything a path could misread.
    """
    if not name:
        raise Invalid("an empty name cannot be a key segment")
    try:
        encoded = "".join(
            char if char in _SEGMENT_SAFE else "".join(f"%{byte:02X}" for byte in char.encode()) for char in name
        )
    except UnicodeEncodeError:
        raise Invalid("a name with invalid Unicode (a lone surrogate) cannot be a key segment") from None
    if len(encoded.encode()) > MAX_KEY_BYTES:
        raise Invalid(f"name too long for an object key (escaped, over {MAX_KEY_BYTES} bytes)")
    return encoded


def unescape_segment(segment: str) -> str:
    """The name `escape_segment` encoded."""
    return unquote(segment, errors="strict")


@dataclass(frozen=True)
class FileKey:
    """The parts of a file's key; `key` is the string, `parse` the way back."""

    tenant_id: int
    device_id: str
    kind: str
    day: date
    file_id: str

    def __post_init__(self) -> None:
        if isinstance(self.tenant_id, bool) or not isinstance(self.tenant_id, int):
            raise Invalid(f"tenant id must be an integer, not {self.tenant_id!r}")
        if not 1 <= self.tenant_id <= _MAX_TENANT_ID:
            raise Invalid(f"tenant id out of range: {self.tenant_id}")
        if not isinstance(self.device_id, str) or not DEVICE_ID_PATTERN.fullmatch(self.device_id):
            raise Invalid(f"invalid device id {self.device_id!r}")
        if not isinstance(self.kind, str) or not KIND_PATTERN.fullmatch(self.kind):
            raise Invalid(f"invalid file kind {self.kind!r}")
        if not isinstance(self.file_id, str) or not FILE_ID_PATTERN.fullmatch(self.file_id):
            raise Invalid(f"invalid file id {self.file_id!r}")
        if isinstance(self.day, datetime) or not isinstance(self.day, date):
            raise Invalid(f"day must be a date, not {self.day!r}")

    @property
    def key(self) -> str:
        """`tenants/<tenant_id>/devices/<device_id>/<kind>/<YYYY>/<MM>/<DD>/<file_id>`."""
        return (
            f"{device_prefix(self.tenant_id, self.device_id)}{self.kind}/"
            f"{self.day.year:04d}/{self.day.month:02d}/{self.day.day:02d}/{self.file_id}"
        )

    @classmethod
    def parse(cls, key: str) -> "FileKey":
        """The parts of a key `file_key` built; `Invalid` for anything else."""
        match = _FILE_KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None:
            raise Invalid(f"not a file key: {key!r}")
        try:
            day = date(int(match["year"]), int(match["month"]), int(match["day"]))
        except ValueError:
            raise Invalid(f"not a file key (bad date): {key!r}") from None
        return cls(int(match["tenant"]), match["device"], match["kind"], day, match["file"])


def file_key(tenant_id: int, device_id: str, kind: str, offered_at: date | datetime, file_id: str) -> str:
    """The key of a unit's file; `offered_at` gives the day (a datetime must carry its time zone: UTC day)."""
    if isinstance(offered_at, datetime):
        if offered_at.tzinfo is None:
            raise Invalid("offered_at must be time zone aware")
        offered_at = offered_at.astimezone(UTC).date()
    return FileKey(tenant_id, device_id, kind, offered_at, file_id).key


def tenant_prefix(tenant_id: int) -> str:
    """The prefix of every object of a tenant, ending in `/`."""
    if isinstance(tenant_id, bool) or not isinstance(tenant_id, int) or not 1 <= tenant_id <= _MAX_TENANT_ID:
        raise Invalid(f"invalid tenant id {tenant_id!r}")
    return f"tenants/{tenant_id}/"


def device_prefix(tenant_id: int, device_id: str) -> str:
    """The prefix of every object of one device of a tenant, ending in `/`."""
    if not isinstance(device_id, str) or not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise Invalid(f"invalid device id {device_id!r}")
    return f"{tenant_prefix(tenant_id)}devices/{device_id}/"
