"""Prometheus metrics of ingest.

- fleet_ingest_messages_total{stream,result}: messages handled; result accepted | partial | rejected.
- fleet_ingest_records_total{stream,result}: records; result stored | duplicate | conflict | rejected.
- fleet_ingest_dead_letters_total{reason}: rejections recorded as dead letters (new, or a repeat of one), by reason.
- fleet_ingest_retained_repeats_total{reason}: rejections of retained messages dead-lettered before, skipped.
- fleet_ingest_downlink_ignored_total{suffix}: messages on downlink topics (cmd, file/grant), acknowledged, ignored.
- fleet_ingest_unknown_fields_total{stream}: unknown record fields ignored.
- fleet_ingest_batch_messages: histogram of messages per committed batch.
- fleet_ingest_write_duration_seconds: histogram of the time to write and commit one batch.
- fleet_ingest_write_errors_total{kind}: failed batch writes; kind database (retried) | data (isolated) | schema (stop).
- fleet_ingest_pending_messages: messages received and not yet acknowledged.
- fleet_ingest_oldest_pending_age_seconds: age of the oldest message not yet acknowledged.
- fleet_ingest_broker_connected: 1 while connected to the broker.
- fleet_ingest_subscribed: 1 while the broker grants the uplink subscription at QoS 1.
- fleet_ingest_subscriptions_refused_total: SUBACKs that refused the subscription or granted less than QoS 1.
- fleet_ingest_database_ready: 1 while the last database write succeeded.
- fleet_ingest_detection_recomputed_total: vehicles whose detection started again from before a late record.
- fleet_ingest_command_delivery_seconds: histogram of the time from a command's creation to the unit's first ack.
"""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("fleet_ingest_messages_total", "Uplink messages handled", ["stream", "result"])
RECORDS = Counter("fleet_ingest_records_total", "Uplink records handled", ["stream", "result"])
DEAD_LETTERS = Counter("fleet_ingest_dead_letters_total", "Rejections recorded as dead letters", ["reason"])
RETAINED_REPEATS = Counter(
    "fleet_ingest_retained_repeats_total",
    "Rejections of retained messages sent again on a new subscription, already dead-lettered: skipped",
    ["reason"],
)
DOWNLINK_IGNORED = Counter(
    "fleet_ingest_downlink_ignored_total", "Messages on downlink topics, acknowledged and ignored", ["suffix"]
)
UNKNOWN_FIELDS = Counter("fleet_ingest_unknown_fields_total", "Unknown record fields ignored", ["stream"])
BATCH_MESSAGES = Histogram(
    "fleet_ingest_batch_messages",
    "Messages per committed batch",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000),
)
# Publish-to-queryable p99 target is 250 ms: buckets resolve well below it.
WRITE_DURATION = Histogram(
    "fleet_ingest_write_duration_seconds",
    "Time to write and commit one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WRITE_ERRORS = Counter("fleet_ingest_write_errors_total", "Failed batch writes", ["kind"])
PENDING = Gauge("fleet_ingest_pending_messages", "Messages received and not yet acknowledged")
OLDEST_PENDING_AGE = Gauge("fleet_ingest_oldest_pending_age_seconds", "Age of the oldest message not yet acknowledged")
BROKER_CONNECTED = Gauge("fleet_ingest_broker_connected", "1 while connected to the broker")
SUBSCRIBED = Gauge("fleet_ingest_subscribed", "1 while the broker grants the uplink subscription at QoS 1")
SUBSCRIPTIONS_REFUSED = Counter(
    "fleet_ingest_subscriptions_refused_total", "SUBACKs refusing the uplink subscription or granting less than QoS 1"
)
DATABASE_READY = Gauge("fleet_ingest_database_ready", "1 while the last database write succeeded")
EVENTS = Counter(
    "fleet_ingest_events_total",
    "Events stored, by type (`other`: a type this release does not know) and source (unit or detector)",
    ["type", "source"],
)
DETECTION_RECOMPUTED = Counter(
    "fleet_ingest_detection_recomputed_total",
    "Vehicles whose event detection started again from before a late, repeated or reordered record",
)
# A command to an online bus is delivered within seconds; one held for an offline bus may wait hours.
COMMAND_DELIVERY = Histogram(
    "fleet_ingest_command_delivery_seconds",
    "Time from a command's creation to the unit's first ack",
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
)
