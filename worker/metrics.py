"""Prometheus metrics of the worker.

- fleet_worker_file_steps_total{result}: file steps done; result granted | refused (an error answered to the unit) |
  verified | rejected (size or SHA-256 wrong, or nothing stored) | store_unavailable (tried again next pass) |
  deleted (retention) | abandoned (never uploaded).
- fleet_worker_files{state}: files per state.
- fleet_worker_commands{type,state}: commands per type and state.
- fleet_worker_commands_stuck_sent: commands the broker took more than 5 minutes ago that the unit has not
  acknowledged (a unit that takes commands but does not answer, or a broker that loses them).
- fleet_worker_alarms{type,severity,state}: alarms not closed, per type (`other` for a type the backend does not
  know), severity and state.
- fleet_worker_alarm_oldest_unacknowledged_seconds{severity}: age of the oldest open (unacknowledged) alarm, 0 when
  there is none.
- fleet_worker_live_pruned_total: live-feed messages deleted after FLEET_LIVE_RETENTION_SECONDS.
- fleet_worker_webhook_deliveries_total{result}: webhook delivery attempts; result delivered (a 2xx) | failed (tried
  again after a back-off) | dead (failed past FLEET_WEBHOOKS_GIVE_UP_HOURS, no longer tried).
- fleet_worker_webhook_deliveries_pending: webhook deliveries waiting for their first attempt or a retry.
- fleet_worker_pass_failures_total: passes that failed (database unreachable), retried with back-off.
- fleet_worker_database_ready: 1 while the last pass succeeded.
"""

from prometheus_client import Counter, Gauge

from fleet.alarms.service import ALARMING, CLOSED, STATES
from fleet.commands.states import CommandState
from fleet.contract.commands import PARAMS
from fleet.contract.events import DETECTED_TYPES, EVENT_TYPES
from fleet.files.states import FileState
from fleet.lifecycle.policy import RETAINED_TABLES
from fleet.streams import PARTITIONED_TABLES

FILE_RESULTS = ("granted", "refused", "verified", "rejected", "store_unavailable", "deleted", "abandoned")
FILES = Counter("fleet_worker_file_steps_total", "File steps done by the worker", ["result"])
for _result in FILE_RESULTS:
    FILES.labels(_result)
FILES_BY_STATE = Gauge("fleet_worker_files", "Files per state", ["state"])
for _state in FileState:
    FILES_BY_STATE.labels(_state.value)
COMMANDS = Gauge("fleet_worker_commands", "Commands per type and state", ["type", "state"])
for _type in PARAMS:
    for _command_state in CommandState:
        COMMANDS.labels(_type, _command_state.value)
COMMANDS_STUCK_SENT = Gauge(
    "fleet_worker_commands_stuck_sent", "Commands sent more than 5 minutes ago and not acknowledged by the unit"
)
# Every type an alarm may have as a label, so the label set stays bounded whatever a newer unit reports.
ALARM_TYPE_LABELS = (*sorted(EVENT_TYPES.keys() | DETECTED_TYPES.keys()), "other")
ALARM_STATES = tuple(state for state in STATES if state != CLOSED)
ALARMS = Gauge("fleet_worker_alarms", "Alarms not closed, per type, severity and state", ["type", "severity", "state"])
for _type in ALARM_TYPE_LABELS:
    for _severity in ALARMING:
        for _alarm_state in ALARM_STATES:
            ALARMS.labels(_type, _severity, _alarm_state)
ALARM_OLDEST_UNACKNOWLEDGED = Gauge(
    "fleet_worker_alarm_oldest_unacknowledged_seconds",
    "Seconds since the oldest open (unacknowledged) alarm was raised, per severity; 0 when none is open",
    ["severity"],
)
for _severity in ALARMING:
    ALARM_OLDEST_UNACKNOWLEDGED.labels(_severity)
LIVE_PRUNED = Counter("fleet_worker_live_pruned_total", "Live-feed messages deleted after their retention")
WEBHOOK_RESULTS = ("delivered", "failed", "dead")
WEBHOOK_DELIVERIES = Counter("fleet_worker_webhook_deliveries_total", "Webhook delivery attempts by result", ["result"])
for _result in WEBHOOK_RESULTS:
    WEBHOOK_DELIVERIES.labels(_result)
WEBHOOK_PENDING = Gauge("fleet_worker_webhook_deliveries_pending", "Webhook deliveries waiting to be sent or retried")
PASS_FAILURES = Counter("fleet_worker_pass_failures_total", "Worker passes that failed and were retried")
DATABASE_READY = Gauge("fleet_worker_database_ready", "1 while the last worker pass succeeded")

# The archive (worker/archive.py).
# - fleet_archive_lag_seconds: seconds since the oldest closed day with rows in the database and no verified archive
#   closed (its UTC midnight plus FLEET_ARCHIVE_GRACE_HOURS), over every archived table; 0 when none.
# - fleet_archive_rows_total{table}, fleet_archive_bytes_total{table}: rows and Parquet bytes written to the store.
# - fleet_archive_failures_total{reason}: days not archived by a pass; reason store_unavailable (the pass stopped,
#   tried again next interval) | mismatch (read back different, or rows the archive lacks: exported again) | error
#   (anything else, logged with its traceback).
ARCHIVE_TABLES = ("positions", "can_samples", "events")
ARCHIVE_FAILURE_REASONS = ("store_unavailable", "mismatch", "error")
ARCHIVE_LAG = Gauge(
    "fleet_archive_lag_seconds", "Seconds since the oldest closed day not archived and verified closed; 0 when none"
)
ARCHIVE_ROWS = Counter("fleet_archive_rows_total", "Rows written to the archive", ["table"])
ARCHIVE_BYTES = Counter("fleet_archive_bytes_total", "Parquet bytes written to the archive", ["table"])
for _table in ARCHIVE_TABLES:
    ARCHIVE_ROWS.labels(_table)
    ARCHIVE_BYTES.labels(_table)
ARCHIVE_FAILURES = Counter("fleet_archive_failures_total", "Archive days that failed, by reason", ["reason"])
for _reason in ARCHIVE_FAILURE_REASONS:
    ARCHIVE_FAILURES.labels(_reason)

# Retention (worker/retention.py) and the fleet-wide vehicle gauge (worker/vehicles.py).
# - fleet_retention_partitions_dropped_total{table}: daily partitions dropped, their days archived and verified.
# - fleet_retention_rows_deleted_total{table}: rows removed from the hot tier, by DELETE or with a dropped partition.
# - fleet_retention_days_marked_stale_total{table}: days found with rows their verified archive does not hold
#   (late data), kept and marked stale for the archive to export again.
# - fleet_retention_kept_days{table,reason}: days past their cutoff still in the database after the last sweep;
#   reason not_archived | archive_stale | archive_disabled | busy (a lock not granted in time).
# - fleet_vehicles{state}: vehicles by state, counted from their latest state: reporting (data within
#   FLEET_WORKER_SILENT_AFTER_SECONDS) | silent (not announced offline, no data for longer) | offline.
RETENTION_KEPT_REASONS = ("not_archived", "archive_stale", "archive_disabled", "busy")
RETENTION_DROPPED = Counter(
    "fleet_retention_partitions_dropped_total", "Daily partitions dropped by retention", ["table"]
)
RETENTION_ROWS = Counter("fleet_retention_rows_deleted_total", "Rows removed by retention", ["table"])
RETENTION_MARKED_STALE = Counter(
    "fleet_retention_days_marked_stale_total", "Archived days retention found rows of that the archive lacks", ["table"]
)
RETENTION_KEPT = Gauge(
    "fleet_retention_kept_days", "Days past their retention kept in the database, by why", ["table", "reason"]
)
for _table in RETAINED_TABLES:
    RETENTION_ROWS.labels(_table)
for _table in ARCHIVE_TABLES:
    RETENTION_MARKED_STALE.labels(_table)
    for _reason in RETENTION_KEPT_REASONS:
        RETENTION_KEPT.labels(_table, _reason)
for _table in PARTITIONED_TABLES:
    RETENTION_DROPPED.labels(_table)
VEHICLE_STATES = ("reporting", "silent", "offline")
VEHICLES = Gauge("fleet_vehicles", "Vehicles with a latest state, by reporting state", ["state"])
for _vehicle_state in VEHICLE_STATES:
    VEHICLES.labels(_vehicle_state)
# - fleet_tachograph_overdue{kind}: tachograph downloads overdue across tenants (EU 581/2010, or the tenant's own
#   periods): vehicle_unit (a vehicle needing one whose last download, or registration, is older than its period) |
#   driver_card (a card whose last download is older than its period).
TACHOGRAPH_OVERDUE = Gauge(
    "fleet_tachograph_overdue", "Tachograph downloads overdue, all tenants, by what is downloaded", ["kind"]
)
for _kind in ("vehicle_unit", "driver_card"):
    TACHOGRAPH_OVERDUE.labels(_kind)
