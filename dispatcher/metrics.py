"""Prometheus metrics of the dispatcher.

- fleet_dispatcher_messages_total{result}: outbox messages handled; result sent (the broker acknowledged it) |
  expired (its expires_at passed before it could be sent) | failed (an attempt not acknowledged; tried again).
- fleet_dispatcher_replayed_total{result}: dead letters whose requested replay was published (the broker
  acknowledged it) | failed (tried again next pass).
- fleet_dispatcher_pending_messages: pending messages in the outbox, held ones (vehicle offline) included.
- fleet_dispatcher_oldest_pending_age_seconds: how long the oldest message that could be sent now has been due.
- fleet_dispatcher_publish_duration_seconds: histogram of the time from publishing a message to its PUBACK.
- fleet_dispatcher_broker_connected: 1 while connected to the broker.
- fleet_dispatcher_database_ready: 1 while the last database transaction succeeded.
"""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("fleet_dispatcher_messages_total", "Outbox messages handled", ["result"])
for _result in ("sent", "expired", "failed"):
    MESSAGES.labels(_result)
REPLAYED = Counter("fleet_dispatcher_replayed_total", "Requested dead-letter replays handled", ["result"])
for _result in ("published", "failed"):
    REPLAYED.labels(_result)
PENDING = Gauge("fleet_dispatcher_pending_messages", "Pending outbox messages, held ones included")
OLDEST_PENDING_AGE = Gauge(
    "fleet_dispatcher_oldest_pending_age_seconds", "Time the oldest message that could be sent now has been due"
)
# Within a data centre a PUBACK takes about a millisecond; the ack timeout is 10 s by default.
PUBLISH_DURATION = Histogram(
    "fleet_dispatcher_publish_duration_seconds",
    "Time from publishing a downlink message to its PUBACK",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BROKER_CONNECTED = Gauge("fleet_dispatcher_broker_connected", "1 while connected to the broker")
DATABASE_READY = Gauge("fleet_dispatcher_database_ready", "1 while the last database transaction succeeded")
