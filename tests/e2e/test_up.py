"""`fleet up`: the first command of the README shows moving buses in /v1/live and stops cleanly on Ctrl-C."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from fleet.mqtt.client import make_client
from fleet.mqtt.url import MqttEndpoint
from fleet.ports import free_port
from tests.fixtures.processes import fleet_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

START_BUDGET_SECONDS = 15.0


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
    process = subprocess.Popen(
        [*fleet_command(), "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        token = ""
        while not token and time.monotonic() - started < START_BUDGET_SECONDS:
            line = process.stdout.readline() if process.stdout else ""
            if not line and process.poll() is not None:
                break
            output.append(line)
            if "token" in line and (match := re.search(r"(flt_\S+)", line)):
                token = match.group(1)
        assert token, "no token line printed:\n" + "".join(output)
        assert f"http://127.0.0.1:{port}" in "".join(output)
        if broker == "in-process":
            assert "mosquitto" not in "".join(output).lower() or "in-process" in "".join(output)
        api_url = f"http://127.0.0.1:{port}"

        first: dict[str, tuple[float, float]] = {}
        while time.monotonic() - started < START_BUDGET_SECONDS:
            try:
                first = live(api_url, token)
            except OSError:
                first = {}
            if len(first) >= 10:
                break
            time.sleep(0.5)
        assert len(first) >= 10, f"only {len(first)} buses in /v1/live after {START_BUDGET_SECONDS}s"
        time.sleep(4)
        second = live(api_url, token)
        moved = [d for d in first if d in second and second[d] != first[d]]
        assert len(moved) >= 10, f"only {len(moved)} buses moved within 4 s"
        if broker == "mosquitto":
            # The buses moved with credentials of their own: the broker lets nobody in without one.
            broker_port = int(re.findall(r"broker mqtt://127.0.0.1:(\d+) \(access control on\)", "".join(output))[0])
            assert not anonymous_client_connects(broker_port)

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
