"""The LISTEN connection of an API process: a notification on `fleet_live` names the tenant whose reader to wake.

Only a hint: while the connection is down the readers poll, and after each (re)connection every reader is woken
once, for what was committed meanwhile.
"""

import asyncio
import logging
from collections.abc import Callable

import psycopg
from psycopg import sql

from fleet.live.feed import CHANNEL

logger = logging.getLogger(__name__)

RECONNECT_FIRST_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 5


async def listen(conninfo: str, wake: Callable[[int], None], wake_all: Callable[[], None]) -> None:
    """LISTEN on `conninfo` until cancelled, reconnecting with back-off: `wake(tenant_id)` per notification."""
    delay = RECONNECT_FIRST_SECONDS
    while True:
        listening = False
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
            ) as connection:
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                listening, delay = True, RECONNECT_FIRST_SECONDS
                wake_all()
                async for notification in connection.notifies():
                    if notification.payload.isdigit():
                        wake(int(notification.payload))
        except psycopg.Error as error:
            if listening:
                logger.warning("live LISTEN connection lost, polling until it is back: %s", error)
            else:
                logger.debug("live LISTEN connection failed: %s", error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX_SECONDS)
