"""The stream registry: one spec per stream, in step with the tables, and door states that survive storage."""

from datetime import UTC, datetime
from typing import Any

import pytest

from fleet.contract.records import CanRecord
from fleet.contract.topics import Stream
from fleet.db.models import Base
from fleet.doors import pack_doors, unpack_doors
from fleet.streams import CAN_SAMPLES, STREAMS, StreamSpec


def test_every_stream_of_the_contract_has_one_spec() -> None:
    assert set(STREAMS) == set(Stream)
    assert all(spec.stream is stream for stream, spec in STREAMS.items())


@pytest.mark.parametrize("spec", [s for s in STREAMS.values() if s.table], ids=lambda s: s.stream.value)
def test_row_columns_are_the_columns_of_the_table(spec: StreamSpec[Any]) -> None:
    assert spec.table is not None
    table = Base.metadata.tables[spec.table]

    assert set(spec.columns) == {c.name for c in table.columns}


@pytest.mark.parametrize("spec", list(STREAMS.values()), ids=lambda s: s.stream.value)
def test_every_stream_keeps_a_time_series_or_a_latest_state_or_is_applied_by_a_domain(spec: StreamSpec[Any]) -> None:
    assert spec.table is not None or spec.state_prefix is not None or spec.applied_by is not None
    assert spec.state_columns == () or spec.state_prefix is not None


@pytest.mark.parametrize("spec", [s for s in STREAMS.values() if s.state_prefix], ids=lambda s: s.stream.value)
def test_latest_state_columns_exist_in_vehicle_state(spec: StreamSpec[Any]) -> None:
    state = {c.name for c in Base.metadata.tables["vehicle_state"].columns}
    prefix = spec.state_prefix

    assert {f"{prefix}_ts", f"{prefix}_seq", *spec.state_columns} <= state
    assert set(spec.state_columns) <= set(spec.columns)


def test_a_row_has_one_value_per_column() -> None:
    record = CanRecord(ts=datetime(2026, 3, 1, tzinfo=UTC), seq=4, doors_open=[True, False, True])
    received_at = datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC)

    row = dict(zip(CAN_SAMPLES.columns, CAN_SAMPLES.row(9, record, received_at), strict=True))

    assert (row["vehicle_id"], row["seq"], row["doors_open_mask"], row["door_count"]) == (9, 4, 0b101, 3)
    assert row["received_at"] == received_at


@pytest.mark.parametrize(
    "doors", [None, [], [True], [False, False], [False, True, True], [True] * 16, [False] * 15 + [True]]
)
def test_door_states_round_trip_through_mask_and_count(doors: list[bool] | None) -> None:
    assert unpack_doors(*pack_doors(doors)) == doors


@pytest.mark.parametrize(
    ("mask", "count", "expected"),
    [(0b110, None, [False, True, True]), (1, -1, []), (2**40 - 1, None, [True] * 32)],
)
def test_unpacking_a_mask_without_a_sane_count(mask: int, count: int | None, expected: list[bool]) -> None:
    assert unpack_doors(mask, count) == expected
