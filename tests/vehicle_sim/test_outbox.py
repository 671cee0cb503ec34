"""Store-and-forward: held records come back as ordered batches before live publishing resumes."""

import json
import random
from datetime import UTC, datetime, timedelta

from fleet.contract.codec import decode_message
from fleet.contract.topics import Stream
from tests.vehicle_sim.helpers import LIMITS
from vehicle_sim.bus import Bus
from vehicle_sim.coverage import Coverage
from vehicle_sim.outbox import BATCH_MAX_RECORDS, Outbox
from vehicle_sim.routes import bundled_routes

START = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
DEVICE = "sim-0001"


def test_online_record_goes_out_alone() -> None:
    bus = Bus(bundled_routes()[0], random.Random(1), START)
    messages = Outbox(DEVICE).submit(Stream.POS, bus.position_record(), online=True)
    assert len(messages) == 1
    assert messages[0].topic == "fleet/v1/sim-0001/pos"
    assert "records" not in json.loads(messages[0].payload)


def test_dropout_yields_batches_with_every_held_record_in_order() -> None:
    bus = Bus(bundled_routes()[0], random.Random(2), START)
    coverage = Coverage(random.Random(3), 0.999, START)  # drops out within seconds after the grace period
    outbox = Outbox(DEVICE)
    sent: list[tuple[str, bytes]] = []
    batches: list[bytes] = []
    now = START
    for second in range(180):
        now = START + timedelta(seconds=second)
        bus.step(now)
        covered = coverage.covered(now)
        for message in outbox.submit(Stream.POS, bus.position_record(), covered):
            sent.append((message.topic, message.payload))
            if "records" in json.loads(message.payload):
                batches.append(message.payload)
        if second % 5 == 0:
            for message in outbox.submit(Stream.CAN, bus.can_record(), covered):
                sent.append((message.topic, message.payload))
    assert batches, "the drop-out's backlog should have been released as a batch"
    first_batch = json.loads(batches[0])["records"]
    seqs = [r["seq"] for r in first_batch]
    assert len(seqs) >= 10  # a drop-out lasts at least 10 s at 1 Hz
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    # Decoded as ingest does, what went out (plus what is still held) is every seq exactly once, in order.
    sent.extend((m.topic, m.payload) for m in outbox.release())
    received: dict[Stream, list[int]] = {Stream.POS: [], Stream.CAN: []}
    for topic, payload in sent:
        decoded = decode_message(topic, payload, now, LIMITS)
        assert decoded.rejected == []
        received[decoded.stream].extend(r.seq for r in decoded.records)
    assert received[Stream.POS] == list(range(180))
    assert received[Stream.CAN] == list(range(36))


def test_backlog_is_chunked_per_stream_and_precedes_the_live_record() -> None:
    bus = Bus(bundled_routes()[1], random.Random(4), START)
    outbox = Outbox(DEVICE)
    for second in range(1, 251):
        bus.step(START + timedelta(seconds=second))
        assert outbox.submit(Stream.POS, bus.position_record(), online=False) == []
        if second % 50 == 0:
            outbox.hold(Stream.CAN, bus.can_record())
    assert outbox.held == 255
    bus.step(START + timedelta(seconds=251))
    messages = outbox.submit(Stream.POS, bus.position_record(), online=True)
    assert [(m.stream, m.records) for m in messages] == [
        (Stream.POS, BATCH_MAX_RECORDS),
        (Stream.POS, BATCH_MAX_RECORDS),
        (Stream.POS, 50),
        (Stream.CAN, 5),
        (Stream.POS, 1),
    ]
    pos_seqs = [r["seq"] for m in messages[:3] for r in json.loads(m.payload)["records"]]
    assert pos_seqs == list(range(250))
    assert json.loads(messages[-1].payload)["seq"] == 250
    assert outbox.held == 0


def test_a_backlog_of_one_is_still_a_batch() -> None:
    bus = Bus(bundled_routes()[0], random.Random(5), START)
    outbox = Outbox(DEVICE)
    outbox.hold(Stream.POS, bus.position_record())
    (message,) = outbox.release()
    assert len(json.loads(message.payload)["records"]) == 1


def test_full_buffer_drops_the_oldest() -> None:
    bus = Bus(bundled_routes()[0], random.Random(6), START)
    outbox = Outbox(DEVICE, capacity_per_stream=10)
    for _ in range(15):
        outbox.hold(Stream.POS, bus.position_record())
    (message,) = outbox.release()
    assert [r["seq"] for r in json.loads(message.payload)["records"]] == list(range(5, 15))
    assert outbox.overwritten == 5
