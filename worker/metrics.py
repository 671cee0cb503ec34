"""Prometheus metrics of the worker.

- fleet_worker_file_steps_total{result}: file steps done; result granted | refused (an error answered to the unit) |
  verified | rejected (size or SHA-256 wrong, or nothing stored) | store_unavailable (tried again next pass) |
  deleted (retention) | abandoned (never uploaded).
- fleet_worker_files{state}: files per state.
- fleet_worker_commands{type,state}: commands per type and state.
- fleet_worker_commands_stuck_sent: commands the broker took more than 5 minutes ago that the unit has not
  acknowledged (a unit that takes commands but does not answer, or a broker that loses them).
- fleet_worker_pass_failures_total: passes that failed (database unreachable), retried with back-off.
- fleet_worker_database_ready: 1 while the last pass succeeded.
"""

from prometheus_client import Counter, Gauge

from fleet.commands.states import CommandState
from fleet.contract.commands import PARAMS
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
PASS_FAILURES = Counter("fleet_worker_pass_failures_total", "Worker passes that failed and were retried")
DATABASE_READY = Gauge("fleet_worker_database_ready", "1 while the last worker pass succeeded")
