"""The network loop on its own: a call posted from another thread wakes it, however the wake-ups race."""

import socket
import threading
import time

from vehicle_sim.network import NetworkLoop


class RacingWakeSocket:
    """The loop's wake-up socket, with another thread's wake-up landing between two of the loop's reads."""

    def __init__(self, inner: socket.socket, network: NetworkLoop) -> None:
        self._inner = inner
        self._network = network
        self.armed = False

    def recv(self, size: int) -> bytes:
        """Read, and once armed, let a wake-up arrive right after this read."""
        data = self._inner.recv(size)
        if self.armed and data:
            self.armed = False
            self._network._wake()
        return data

    def close(self) -> None:
        """Close the socket."""
        self._inner.close()


def run_soon(network: NetworkLoop) -> float:
    """Seconds until a call posted now from this thread runs on the loop."""
    done = threading.Event()
    posted = time.monotonic()
    network.call_later(0, done.set)
    assert done.wait(3)
    return time.monotonic() - posted


def test_a_wake_up_arriving_while_the_loop_drains_the_earlier_ones_is_not_lost() -> None:
    network = NetworkLoop(connect_rate_per_second=10)
    racing = RacingWakeSocket(network._wake_r, network)
    network._wake_r = racing  # type: ignore[assignment]
    network.start()
    try:
        assert run_soon(network) < 0.2
        racing.armed = True
        run_soon(network)
        assert not racing.armed
        # The loop idles now: the next call must wake it rather than wait for its housekeeping a second on.
        time.sleep(0.05)
        assert run_soon(network) < 0.2
    finally:
        network.close(0.1)
