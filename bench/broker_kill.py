"""Measure what a SIGKILLed Mosquitto loses of what it had acknowledged (`python -m bench.broker_kill`).

A persistent QoS 1 session is created and left offline; a publisher sends at a steady rate and counts
PUBACKs; the broker is SIGKILLed mid-stream and restarted from its persistence file; the session is then
drained. Lost = acknowledged before the kill but never delivered. With a graceful stop (SIGTERM) the same
procedure is run as the baseline, which must lose nothing.
"""

import argparse
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.fixtures.mosquitto import MosquittoServer

TOPIC = "bench/kill"


def session_client(port: int, client_id: str, received: set[int]) -> mqtt.Client:
    """A persistent QoS 1 subscriber recording message numbers."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_message = lambda _c, _u, m: received.add(int(m.payload))
    client.connect("127.0.0.1", port)
    client.subscribe(TOPIC, qos=1)
    return client


def run(base: Path, rate: float, seconds: float, kill: bool) -> tuple[int, int]:
    """(acknowledged before the stop, lost) for one run."""
    broker = MosquittoServer(base / uuid.uuid4().hex[:6])
    broker.start()
    client_id = f"sess-{uuid.uuid4().hex[:6]}"
    received: set[int] = set()
    first = session_client(broker.port, client_id, received)
    first.loop(1)
    first.disconnect()
    acked: set[int] = set()
    lock = threading.Lock()

    def on_publish(_c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        with lock:
            acked.add(mid_to_number.pop(mid, -1))

    mid_to_number: dict[int, int] = {}
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{client_id}")
    publisher.on_publish = on_publish
    publisher.max_inflight_messages_set(100)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    started = time.monotonic()
    total = int(rate * seconds)
    for n in range(total):
        lag = started + n / rate - time.monotonic()
        if lag > 0:
            time.sleep(lag)
        with lock:
            info = publisher.publish(TOPIC, str(n).encode(), qos=1)
            mid_to_number[info.mid] = n
    time.sleep(0.2)
    with lock:
        acknowledged = set(acked) - {-1}
    broker.kill() if kill else broker.stop()
    publisher.loop_stop()
    broker.start()
    drain = session_client(broker.port, client_id, received)
    drain.loop_start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(received & acknowledged) < len(acknowledged):
        time.sleep(0.2)
    time.sleep(1)
    drain.disconnect()
    drain.loop_stop()
    broker.stop()
    return len(acknowledged), len(acknowledged - received)


def main() -> None:
    """Print lost messages after SIGTERM and after SIGKILL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fleet-kill-"))
    base.chmod(0o755)
    try:
        print(f"| broker stop | acknowledged | lost | (rate {args.rate:,.0f} msg/s, autosave_interval 1 s) |")
        print("|---|---:|---:|---|")
        for kill in (False, True):
            acknowledged, lost = run(base, args.rate, args.seconds, kill)
            window = lost / args.rate
            print(f"| {'SIGKILL' if kill else 'SIGTERM'} | {acknowledged:,} | {lost:,} | ~{window:.2f} s of traffic |")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
