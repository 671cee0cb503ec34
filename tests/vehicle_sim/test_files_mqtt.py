"""A simulated bus's file flow over a real Mosquitto to a real SeaweedFS: offer, grant, PUT, `uploaded`."""

import threading
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest

from fleet.contract.codec import decode_message
from fleet.contract.downlink import FileVerified
from fleet.contract.records import FileRecord
from fleet.contract.topics import Stream, downlink_topic, uplink_topic
from fleet.mqtt.url import parse_mqtt_url
from fleet.settings import SimSettings
from tests.fixtures.downlink import unit
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.publisher import Publisher
from tests.fixtures.s3 import SeaweedServer
from tests.vehicle_sim.backend import Backend, s3_store
from tests.vehicle_sim.helpers import LIMITS
from vehicle_sim.device import GRANT_SUFFIX
from vehicle_sim.fleet_sim import SimulatedFleet, device_id_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt311", "mqtt5"])
def test_a_bus_offers_a_file_and_uploads_it_when_granted(
    mosquitto: MosquittoServer, s3: SeaweedServer, protocol: int
) -> None:
    prefix = f"f{uuid.uuid4().hex[:6]}-"
    device_id = device_id_for(prefix, 1)
    # A vehicle-unit download after 2 s (then every 2 s), nothing else, no drop-outs.
    settings = SimSettings(
        vehicles=1,
        prefix=prefix,
        seed=11,
        dropout_probability_per_minute=0,
        tachograph_vu_interval_seconds=2,
        tachograph_card_interval_seconds=28 * 86400,
        clips_per_hour=0,
        upload_interrupt_probability=0,
    )
    uplink = unit(mosquitto.url, uplink_topic(device_id, Stream.FILE))
    backend = Backend(s3_store(s3, s3.create_bucket()), device_id)
    dispatcher = Publisher(mosquitto.port)
    fleet = SimulatedFleet(parse_mqtt_url(mosquitto.url), settings, protocol)
    stop = threading.Event()
    fleet.start()
    runner = threading.Thread(target=fleet.run, args=(stop,), daemon=True)
    runner.start()

    def reports() -> list[FileRecord]:
        found = []
        for message in uplink.messages():
            decoded = decode_message(message.topic, message.payload, datetime.now(UTC), LIMITS)
            assert decoded.rejected == [] and decoded.unknown_fields == 0
            found.extend(r for r in decoded.records if isinstance(r, FileRecord))
        return found

    try:
        wait_until(lambda: any(r.state == "offered" for r in reports()), "the bus's first offer")
        offer = next(r for r in reports() if r.state == "offered")
        assert (offer.kind, offer.content_type) == ("tachograph_vu", "application/octet-stream")
        assert offer.name.startswith(f"{device_id}_") and offer.name.endswith(".ddd")

        grant = backend.grant(offer)
        dispatcher.publish(downlink_topic(device_id, GRANT_SUFFIX), grant.model_dump_json(exclude_none=True))
        wait_until(
            lambda: any(r.state == "uploaded" and r.file_id == offer.file_id for r in reports()), "the upload report"
        )
        uploaded = next(r for r in reports() if r.state == "uploaded")
        assert (uploaded.file_id, uploaded.size_bytes, uploaded.sha256) == (
            offer.file_id,
            offer.size_bytes,
            offer.sha256,
        )
        assert backend.store.sha256(backend.keys[offer.file_id]) == offer.sha256

        verified = FileVerified(file_id=offer.file_id)
        dispatcher.publish(downlink_topic(device_id, GRANT_SUFFIX), verified.model_dump_json())
        wait_until(lambda: offer.file_id not in fleet.buses[0].files.phases(), "the bus dropping its copy")
    finally:
        stop.set()
        runner.join(timeout=5)
        fleet.close()
        dispatcher.close()
        uplink.close()
    assert not runner.is_alive()
