"""`fleet up`: the first command of the README shows moving buses in /v1/live and stops cleanly on Ctrl-C."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from sqlalchemy import select

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import OutboxMessage, Vehicle, VehicleState, utcnow
from fleet.mqtt.client import make_client
from fleet.mqtt.url import MqttEndpoint
from fleet.outbox import service as outbox
from fleet.ports import free_port
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.processes import fleet_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

START_BUDGET_SECONDS = 15.0
TOKEN = re.compile(r"(flt_\S+)")


def path_without_mosquitto() -> str:
    """PATH minus every folder holding a mosquitto binary."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(f for f in folders if not (Path(f) / "mosquitto").exists())


def children_of(pid: int) -> set[int]:
    """Direct child processes of `pid`."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def live(api_url: str, token: str) -> dict[str, tuple[float, float]]:
    """device_id -> (lat, lon) of every vehicle with a position in /v1/live."""
    request = urllib.request.Request(f"{api_url}/v1/live", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=3) as response:
        items = json.load(response)["items"]
    return {i["device_id"]: (i["position"]["lat"], i["position"]["lon"]) for i in items if i.get("position")}


def anonymous_client_connects(port: int) -> bool:
    """Whether the broker accepts a client without credentials."""
    client = make_client(MqttEndpoint("127.0.0.1", port), "anonymous-probe")
    try:
        client.connect("127.0.0.1", port)
        client.loop_start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not client.is_connected():
            time.sleep(0.05)
        return client.is_connected()
    finally:
        client.disconnect()
        client.loop_stop()


def downlink_is_sent(database: Path, broker_port: int | None) -> None:
    """Queue a message for an online bus, as a request will; `fleet up`'s dispatcher sends it. With `broker_port`
    (a broker without access control) a subscriber also checks that it arrives."""
    received: list[tuple[str, bytes]] = []
    engine = make_engine(f"sqlite:///{database}")
    try:
        with make_session_factory(engine)() as session:
            bus = session.scalars(
                select(Vehicle).join(VehicleState, VehicleState.vehicle_id == Vehicle.id).where(VehicleState.online)
            ).first()
            assert bus is not None, "no bus online"
            if broker_port:
                # The in-process broker speaks MQTT 3.1.1 only.
                client = make_client(
                    MqttEndpoint("127.0.0.1", broker_port), "downlink-probe", protocol=MQTTProtocolVersion.MQTTv311
                )
                client.on_message = lambda _c, _u, message: received.append((message.topic, message.payload))
                client.connect("127.0.0.1", broker_port)
                client.subscribe(f"fleet/v1/{bus.device_id}/cmd", qos=1)
                client.loop_start()
                time.sleep(0.5)  # the SUBACK
            message = outbox.enqueue(session, bus, "cmd", b'{"op":"ping"}', utcnow() + timedelta(minutes=1))
            session.commit()

        def sent() -> bool:
            with make_session_factory(engine)() as session:
                return session.get_one(OutboxMessage, message.id).state == "sent"

        wait_until(sent, "the downlink message sent by fleet up's dispatcher", timeout=10)
        if broker_port:
            topic = f"fleet/v1/{bus.device_id}/cmd"
            # (amqtt also hands a new subscription retained messages of other topics: only the bus's topic counts.)
            wait_until(lambda: [m for m in received if m[0] == topic], "the downlink message at the bus's topic")
            assert [payload for t, payload in received if t == topic] == [b'{"op":"ping"}']
            client.disconnect()
            client.loop_stop()
    finally:
        engine.dispose()


def start_fleet_up(port: int, env: dict[str, str]) -> tuple["subprocess.Popen[str]", list[str]]:
    """`fleet up` on `port`, and the list its output lines are collected into as they come.

    The output is read all along: a full pipe would block every thread of fleet up that logs.
    """
    process = subprocess.Popen(
        [*fleet_command(), "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True).start()
    return process, output


def refusal(error: urllib.error.HTTPError) -> str:
    """The status and the start of the body of an answer the API refused, for an assertion's message."""
    return f"{error.code} {error.read()[:300]!r}"


def printed_token(output: list[str]) -> str:
    """The demo token fleet up printed, or empty while it has not."""
    return next((m.group(1) for line in list(output) if "token" in line and (m := TOKEN.search(line))), "")


@pytest.mark.parametrize("broker", ["mosquitto", "in-process"])
def test_fleet_up_shows_moving_buses_and_stops_on_ctrl_c(tmp_path: Path, broker: str) -> None:
    if broker == "mosquitto" and not shutil.which("mosquitto"):
        pytest.fail("mosquitto is not on PATH; scripts/test.sh installs it")
    port = free_port()
    env = {**os.environ, "FLEET_DATA_DIR": str(tmp_path / "data")}
    env.pop("FLEET_DATABASE_URL", None)
    if broker == "in-process":
        env["PATH"] = path_without_mosquitto()
    started = time.monotonic()
    process, output = start_fleet_up(port, env)
    try:
        token = ""
        while not token and time.monotonic() - started < START_BUDGET_SECONDS and process.poll() is None:
            token = printed_token(output)
            time.sleep(0.1)
        assert token, "no token line printed:\n" + "".join(output)
        assert f"http://127.0.0.1:{port}" in "".join(output)
        if broker == "in-process":
            assert "mosquitto" not in "".join(output).lower() or "in-process" in "".join(output)
        api_url = f"http://127.0.0.1:{port}"

        first: dict[str, tuple[float, float]] = {}
        # What the API last refused with, for the message below: a 401 here once lasted the whole budget.
        refused = ""
        while time.monotonic() - started < START_BUDGET_SECONDS:
            try:
                first = live(api_url, token)
            except urllib.error.HTTPError as error:
                first, refused = {}, refusal(error)
            except OSError as error:
                first, refused = {}, repr(error)
            if len(first) >= 10:
                break
            time.sleep(0.5)
        assert len(first) >= 10, (
            f"only {len(first)} buses in /v1/live after {START_BUDGET_SECONDS}s (last refusal: {refused or 'none'}; "
            f"token {token[:6]}...):\n" + "".join(output[-200:])
        )
        time.sleep(4)
        second = live(api_url, token)
        moved = [d for d in first if d in second and second[d] != first[d]]
        assert len(moved) >= 10, f"only {len(moved)} buses moved within 4 s"
        broker_port = int(re.findall(r"broker mqtt://127.0.0.1:(\d+) \(", "".join(output))[0])
        if broker == "mosquitto":
            # The buses moved with credentials of their own: the broker lets nobody in without one.
            assert "(access control on)" in "".join(output)
            assert not anonymous_client_connects(broker_port)
        downlink_is_sent(tmp_path / "data" / "fleet.db", broker_port if broker == "in-process" else None)

        children = children_of(process.pid)
        stop_requested = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        assert time.monotonic() - stop_requested < 10
        assert process.returncode == 0, "".join(output)
        time.sleep(0.2)
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "a child process survived"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def api_post(api_url: str, token: str, path: str, body: dict[str, object]) -> dict[str, Any]:
    """The JSON answer of an authenticated POST."""
    request = urllib.request.Request(
        f"{api_url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


def api_get(api_url: str, token: str, path: str) -> bytes:
    """The body of an authenticated GET."""
    request = urllib.request.Request(f"{api_url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


@pytest.mark.timeout(150)
def test_fleet_up_buses_upload_files_and_answer_an_operators_request_for_a_clip(tmp_path: Path) -> None:
    if not shutil.which("mosquitto"):
        pytest.fail("mosquitto is not on PATH; scripts/test.sh installs it")
    port = free_port()
    # Downloads and clips more often than the defaults, so that a minute shows each kind.
    env = {
        **os.environ,
        "FLEET_DATA_DIR": str(tmp_path / "data"),
        "FLEET_SIM_TACHOGRAPH_CARD_INTERVAL_SECONDS": "60",
        "FLEET_SIM_CLIPS_PER_HOUR": "120",
        # The operator's request below must not be one of the share a unit fails on purpose.
        "FLEET_SIM_COMMAND_FAILURE_PROBABILITY": "0",
        # The test polls the API every 50 ms with the demo token: past the default 1,200 a minute it would get 429s.
        "FLEET_API_RATE_LIMIT_PER_MINUTE": "100000",
    }
    env.pop("FLEET_DATABASE_URL", None)
    process, output = start_fleet_up(port, env)
    api_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: printed_token(output), "the token line", timeout=20)
        token = printed_token(output)

        def verified() -> list[dict[str, object]]:
            try:
                page = json.loads(api_get(api_url, token, "/v1/files?state=verified&limit=200"))
            except OSError:  # the API is still starting
                return []
            return list(page["items"])

        wanted = {"tachograph_vu", "tachograph_card", "video"}
        wait_until(
            lambda: wanted <= {str(f["kind"]) for f in verified()},
            "verified tachograph downloads and a clip in /v1/files",
            timeout=90,
        )
        files = {str(f["kind"]): f for f in verified()}
        for kind in wanted:
            body = api_get(api_url, token, str(files[kind]["content_url"]))
            assert len(body) == files[kind]["size_bytes"]
            assert hashlib.sha256(body).hexdigest() == files[kind]["sha256"], kind

        # An operator asks a bus for a clip of the last minutes and downloads it.
        now = datetime.now(UTC)
        window = {
            "started_at": (now - timedelta(minutes=3)).isoformat(),
            "ended_at": (now - timedelta(minutes=2)).isoformat(),
        }
        command = api_post(
            api_url,
            token,
            "/v1/vehicles/sim-0001/commands",
            {"type": "request_file", "params": {"kind": "video", **window}},
        )
        assert command["state"] == "queued"
        path = f"/v1/commands/{command['id']}"
        finished = ("done", "failed", "rejected", "expired")
        wait_until(lambda: json.loads(api_get(api_url, token, path))["state"] in finished, "the command", timeout=60)
        done = json.loads(api_get(api_url, token, path))
        assert done["state"] == "done", done
        assert [step["state"] for step in done["history"]] == ["queued", "sent", "delivered", "done"]
        page = json.loads(api_get(api_url, token, "/v1/files?vehicle=sim-0001&kind=video&limit=200"))
        (clip,) = [f for f in page["items"] if f["command_id"] == str(command["id"])]
        assert clip["state"] == "verified" and clip["file_id"] == done["result"]["file_id"]
        body = api_get(api_url, token, str(clip["content_url"]))
        assert hashlib.sha256(body).hexdigest() == clip["sha256"]
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        assert process.returncode == 0, "".join(output[-100:])
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- fleet up output (tail) ---\n{''.join(output[-150:])}") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_fleet_up_on_a_port_in_use_says_so_and_exits(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "FLEET_DATA_DIR": str(tmp_path / "data")}
        env.pop("FLEET_DATABASE_URL", None)
        result = subprocess.run(
            [*fleet_command(), "up", "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
        )

    assert result.returncode == 1
    assert f"cannot serve the API on 127.0.0.1:{port}" in result.stderr


def stream_messages(
    api_url: str, token: str, into: list[tuple[float, str, dict[str, Any]]], stop: threading.Event
) -> None:
    """Collect (arrival time, kind, payload) of `/v1/stream` until `stop`, reconnecting while the API starts."""
    import httpx

    while not stop.is_set():
        try:
            with httpx.stream(
                "GET", f"{api_url}/v1/stream?kinds=event,alarm", headers={"Authorization": f"Bearer {token}"},
                timeout=httpx.Timeout(5, read=30),
            ) as response:  # fmt: skip
                kind = ""
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        into.append((time.time(), kind, json.loads(line.removeprefix("data: "))))
        except httpx.HTTPError:
            time.sleep(0.2)


@pytest.mark.timeout(120)
def test_fleet_up_alarms_reach_the_api_and_the_stream_within_two_seconds(tmp_path: Path) -> None:
    if not shutil.which("mosquitto"):
        pytest.fail("mosquitto is not on PATH; scripts/test.sh installs it")
    port = free_port()
    env = {
        **os.environ,
        "FLEET_DATA_DIR": str(tmp_path / "data"),
        "FLEET_SIM_DEMO_PANIC_AFTER_SECONDS": "20",
        # The test polls every 50 ms with the demo token: past the default 1,200 a minute it would get 429s.
        "FLEET_API_RATE_LIMIT_PER_MINUTE": "100000",
    }
    env.pop("FLEET_DATABASE_URL", None)
    process, output = start_fleet_up(port, env)
    api_url = f"http://127.0.0.1:{port}"
    received: list[tuple[float, str, dict[str, Any]]] = []
    stop = threading.Event()
    try:
        wait_until(lambda: printed_token(output), "the token line", timeout=20)
        token = printed_token(output)
        threading.Thread(target=stream_messages, args=(api_url, token, received, stop), daemon=True).start()

        # The first refusals, for the message: a 401 once lasted until the address was locked out (429).
        refusals: list[str] = []

        def panic_alarm_in_api() -> dict[str, Any] | None:
            try:
                page = json.loads(api_get(api_url, token, "/v1/alarms?type=panic_button"))
            except urllib.error.HTTPError as error:
                if len(refusals) < 3:
                    refusals.append(refusal(error))
                return None
            except OSError:
                return None
            return next(iter(page["items"]), None)

        try:
            wait_until(panic_alarm_in_api, "the panic button's alarm in /v1/alarms", timeout=60)
        except AssertionError as error:
            raise AssertionError(f"{error}; first refusals: {refusals}") from None
        seen_in_api = time.time()
        alarm = panic_alarm_in_api()
        assert alarm is not None and (alarm["severity"], alarm["state"]) == ("critical", "open")
        happened = datetime.fromisoformat(alarm["opened_at"]).timestamp()
        assert seen_in_api - happened <= 2.0, f"in the API {seen_in_api - happened:.2f} s after the button"

        def on_stream(kind: str) -> tuple[float, dict[str, Any]] | None:
            return next(((t, p) for t, k, p in list(received) if k == kind and p["type"] == "panic_button"), None)

        wait_until(lambda: on_stream("alarm") and on_stream("event"), "the panic button on /v1/stream", timeout=10)
        for kind in ("event", "alarm"):
            arrived, payload = on_stream(kind) or (0.0, {})
            assert payload["device_id"] == alarm["device_id"]
            assert arrived - happened <= 2.0, f"{kind} on the stream {arrived - happened:.2f} s after the button"
        # Warning and critical events of the simulated buses open alarms; every alarm's event is listed.
        events = json.loads(api_get(api_url, token, "/v1/events?limit=500"))["items"]
        assert any(e["type"] == "panic_button" and e["source"] == "unit" for e in events)
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- fleet up output (tail) ---\n{''.join(output[-80:])}") from None
    finally:
        stop.set()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
