"""Wake the dispatcher when a message is queued: LISTEN on PostgreSQL for the notification `enqueue` sends.

Only a hint: a missed notification (the listener reconnecting) costs at most one poll interval, and after each
(re)connection the listener wakes the dispatcher once, for what was queued meanwhile.
"""

import logging
import threading

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from fleet.db.engine import normalize_url
from fleet.outbox.repository import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)

# How often the listening thread looks at its stop event.
STOP_CHECK_SECONDS = 0.5
RECONNECT_FIRST_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 5


def libpq_url(database_url: str) -> str:
    """The libpq connection URI of a SQLAlchemy PostgreSQL URL (password and query options kept)."""
    return make_url(normalize_url(database_url)).set(drivername="postgresql").render_as_string(hide_password=False)


class OutboxListener:
    """A thread holding one PostgreSQL connection in LISTEN, setting `wake` on every notification."""

    def __init__(self, database_url: str, wake: threading.Event) -> None:
        self._conninfo = libpq_url(database_url)
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dispatcher-listen", daemon=True)
        self.listening = False

    def start(self) -> None:
        """Listen in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection."""
        self._stop.set()
        self._thread.join(timeout=2 * STOP_CHECK_SECONDS + CONNECT_TIMEOUT_SECONDS)

    def _run(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
                    self.listening, delay = True, RECONNECT_FIRST_SECONDS
                    self._wake.set()
                    while not self._stop.is_set():
                        for _notification in conn.notifies(timeout=STOP_CHECK_SECONDS):
                            self._wake.set()
            except psycopg.Error as error:
                if self.listening:
                    logger.warning("LISTEN connection lost, polling only until it is back: %s", error)
                else:
                    logger.debug("LISTEN connection failed: %s", error)
            finally:
                self.listening = False
            self._stop.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
