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
