"""The manifest of an archived day: every part of every tenant, as JSON beside the parts.

    {"format": 1, "table": "positions", "day": "2026-03-09", "rows": 172800, "bytes": 6912345,
     "columns": [{"name": "device_id", "type": "string"}, ...],
     "parts": [{"tenant_id": 1, "part": 1, "key": "tenants/1/archive/...", "rows": 86400, "bytes": 3456789,
                "sha256": "...", "min_ts": "2026-03-09T00:00:00.000000+00:00", "max_ts": "...",
                "purged_at": null}, ...]}

It holds nothing that changes when the same rows are exported again (no export time), so a repeated export
writes the same bytes. It lets a day be found and restored from the store alone, without the database's
`archive_parts`.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fleet.archive.layout import ArchivedTable
from fleet.db.models import ArchivePart

FORMAT = 1
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class ManifestPart:
    """One part as the manifest lists it."""

    tenant_id: int
    part: int
    key: str
    rows: int
    bytes: int
    sha256: str
    min_ts: datetime
    max_ts: datetime
    purged_at: datetime | None


def listed(part: ArchivePart) -> ManifestPart:
    """A recorded part as the manifest lists it."""
    return ManifestPart(
        tenant_id=part.tenant_id,
        part=part.part,
        key=part.key,
        rows=part.rows,
        bytes=part.bytes,
        sha256=part.sha256,
        min_ts=part.min_ts,
        max_ts=part.max_ts,
        purged_at=part.purged_at,
    )


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def manifest_bytes(table: ArchivedTable, day: date, parts: Iterable[ManifestPart]) -> bytes:
    """The manifest of `table` on `day` listing `parts`, as canonical JSON."""
    ordered = sorted(parts, key=lambda part: (part.tenant_id, part.part))
    document: dict[str, Any] = {
        "format": FORMAT,
        "table": table.name,
        "day": day.isoformat(),
        "rows": sum(part.rows for part in ordered),
        "bytes": sum(part.bytes for part in ordered),
        "columns": [{"name": field.name, "type": str(field.type)} for field in table.schema],
        "parts": [
            {
                "tenant_id": part.tenant_id,
                "part": part.part,
                "key": part.key,
                "rows": part.rows,
                "bytes": part.bytes,
                "sha256": part.sha256,
                "min_ts": _instant(part.min_ts),
                "max_ts": _instant(part.max_ts),
                "purged_at": _instant(part.purged_at),
            }
            for part in ordered
        ],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def parse_parts(data: bytes) -> list[ManifestPart]:
    """The parts a manifest lists."""
    document = json.loads(data)
    if document.get("format") != FORMAT:
        raise ValueError(f"manifest format {document.get('format')!r} is not {FORMAT}")
    return [
        ManifestPart(
            tenant_id=int(part["tenant_id"]),
            part=int(part["part"]),
            key=str(part["key"]),
            rows=int(part["rows"]),
            bytes=int(part["bytes"]),
            sha256=str(part["sha256"]),
            min_ts=datetime.fromisoformat(part["min_ts"]),
            max_ts=datetime.fromisoformat(part["max_ts"]),
            purged_at=_parse_instant(part["purged_at"]),
        )
        for part in document["parts"]
    ]
