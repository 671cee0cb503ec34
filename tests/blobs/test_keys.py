"""The key layout: built only from validated parts; names escaped; nothing can climb out of its prefix."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from fleet.blobs.keys import (
    MAX_KEY_BYTES,
    FileKey,
    device_prefix,
    escape_segment,
    file_key,
    tenant_prefix,
    unescape_segment,
    validate_key,
)
from fleet.errors import Invalid


def test_the_documented_layout() -> None:
    key = file_key(42, "bus-0007", "tachograph_vu", date(2026, 3, 9), "vu_2026-03-09")

    assert key == "tenants/42/devices/bus-0007/tachograph_vu/2026/03/09/vu_2026-03-09"
    assert key.startswith(device_prefix(42, "bus-0007")) and key.startswith(tenant_prefix(42))
    assert validate_key(key) == key


def test_the_day_is_the_utc_day_of_an_aware_time() -> None:
    late_evening_in_new_york = datetime(2026, 3, 9, 22, 30, tzinfo=timezone(timedelta(hours=-5)))

    assert "/2026/03/10/" in file_key(1, "bus-1", "video", late_evening_in_new_york, "clip")
    with pytest.raises(Invalid, match="time zone"):
        file_key(1, "bus-1", "video", datetime(2026, 3, 9, 12, 0), "clip")


def test_parse_gives_the_parts_back() -> None:
    parts = FileKey(7, "bus_9", "video", date(2026, 12, 31), "a-b_c")

    assert FileKey.parse(parts.key) == parts
    for not_a_file_key in ["tenants/7/devices/bus_9/video/2026/13/01/x", "tenants/0/devices/b/video/2026/01/01/x", "x"]:
        with pytest.raises(Invalid):
            FileKey.parse(not_a_file_key)


@pytest.mark.parametrize(
    ("tenant_id", "device_id", "kind", "file_id"),
    [
        (0, "bus-1", "video", "f"),
        (-1, "bus-1", "video", "f"),
        (True, "bus-1", "video", "f"),
        ("1", "bus-1", "video", "f"),
        (2**63, "bus-1", "video", "f"),
        (1, "../bus", "video", "f"),
        (1, "bus/1", "video", "f"),
        (1, "", "video", "f"),
        (1, "b" * 65, "video", "f"),
        (1, "bus-1", "Video", "f"),
        (1, "bus-1", "vid/eo", "f"),
        (1, "bus-1", "..", "f"),
        (1, "bus-1", "video", ".."),
        (1, "bus-1", "video", "a/b"),
        (1, "bus-1", "video", "a\x00b"),
        (1, "bus-1", "video", "clip.mp4"),
        (1, "bus-1", "video", "f" * 65),
        (1, "bus-1", "video", ""),
    ],
)
def test_every_component_is_validated(tenant_id: object, device_id: object, kind: object, file_id: object) -> None:
    with pytest.raises(Invalid):
        file_key(tenant_id, device_id, kind, date(2026, 1, 1), file_id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "..",
        ".",
        "a/b",
        "../../etc/passwd",
        "a\x00b",
        "clip 1.mp4",
        "100%",
        "Fahrer: Müller",
        "\\windows",
        "-",
        "ü" * 50,
    ],
)
def test_escaped_names_are_one_harmless_segment(name: str) -> None:
    segment = escape_segment(name)

    assert validate_key(f"tenants/1/names/{segment}") == f"tenants/1/names/{segment}"
    assert "/" not in segment and "." not in segment and "\x00" not in segment
    assert unescape_segment(segment) == name


def test_escaping_refuses_what_cannot_be_a_segment() -> None:
    for name in ["", "\ud800", "x" * (MAX_KEY_BYTES + 1)]:
        with pytest.raises(Invalid):
            escape_segment(name)


@pytest.mark.parametrize(
    "key",
    ["", "/a", "a/", "a//b", "../a", "a/../b", "a/./b", ".", "..", "a\\b", "a\x00b", "a b", "a?b", "a#b", "ü", "a\nb"],
)
def test_keys_outside_the_alphabet_or_with_dot_segments_are_refused(key: str) -> None:
    with pytest.raises(Invalid):
        validate_key(key)


def test_key_length_is_s3s() -> None:
    assert validate_key("a" * MAX_KEY_BYTES)
    with pytest.raises(Invalid):
        validate_key("a" * (MAX_KEY_BYTES + 1))


def test_dots_inside_a_segment_are_fine() -> None:
    assert validate_key("archive/pos/2026/01/01/part-0.parquet")
    assert validate_key("a/..b/c..")


def test_the_day_of_a_utc_midnight() -> None:
    assert file_key(1, "b", "log", datetime(2026, 1, 1, tzinfo=UTC), "x").endswith("/log/2026/01/01/x")
