"""Turn SIGINT/SIGTERM into a stop event."""

import signal
import threading


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM."""
    stop = threading.Event()

    def _handle(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)
    return stop
