"""Prometheus metrics of the worker.

- fleet_worker_file_steps_total{result}: file steps done; result granted | refused (an error answered to the unit) |
  verified | rejected (size or SHA-256 wrong, or nothing stored) | store_unavailable (tried again next pass) |
  deleted (retention) | abandoned (never uploaded).
- fleet_worker_files{state}: files per state.
- fleet_worker_pass_failures_total: passes that failed (database unreachable), retried with back-off.
- fleet_worker_database_ready: 1 while the last pass succeeded.
"""

from prometheus_client import Counter, Gauge

from fleet.files.states import FileState

FILE_RESULTS = ("granted", "refused", "verified", "rejected", "store_unavailable", "deleted", "abandoned")
FILES = Counter("fleet_worker_file_steps_total", "File steps done by the worker", ["result"])
for _result in FILE_RESULTS:
    FILES.labels(_result)
FILES_BY_STATE = Gauge("fleet_worker_files", "Files per state", ["state"])
for _state in FileState:
    FILES_BY_STATE.labels(_state.value)
PASS_FAILURES = Counter("fleet_worker_pass_failures_total", "Worker passes that failed and were retried")
DATABASE_READY = Gauge("fleet_worker_database_ready", "1 while the last worker pass succeeded")
