"""Prometheus metrics of the API (default registry, served at /metrics; with several workers, every process's).

- `fleet_api_requests_total{method,route,status}`: HTTP requests handled; `status` is the class ("2xx", "4xx"...).
- `fleet_api_request_duration_seconds{method,route}`: time to handle a request, histogram (exports not included).
- `fleet_api_export_duration_seconds{route}`: time to stream an export (`format=ndjson|csv`) to its end, histogram:
  up to 31 days of rows take seconds to minutes, which would swamp the answer times the latency objective is about.
- `fleet_api_refused_total{reason}`: requests refused by the abuse limits before routing: `body_too_large` (413),
  `rate_limit` (429, a token past its rate), `auth_failures` (429, an address that keeps failing authentication).
- `fleet_api_shed_total{reason}`: requests answered 503 because the API or its database was over capacity or away:
  `concurrency` (FLEET_API_MAX_CONCURRENT_REQUESTS in flight), `pool_timeout` (no database connection free within
  FLEET_API_DB_POOL_TIMEOUT_SECONDS), `statement_timeout` (a query cancelled past FLEET_API_STATEMENT_TIMEOUT_SECONDS),
  `database` (the database unreachable or refusing for now).
- `fleet_api_requests_in_flight`: requests being handled that count against the admission limit, all processes.

`route` is the matched route template (e.g. `/v1/vehicles/{device_id}/positions`) or "unmatched"; `method` is one of
the standard HTTP methods or "other". No label ever holds a raw path, device id or tenant.
"""

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

# Dense around the 250 ms latency SLO so its burn rate can be read straight off the `le="0.25"` bucket.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.75, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("fleet_api_requests_total", "HTTP requests handled by the API.", ["method", "route", "status"])
REQUEST_DURATION = Histogram(
    "fleet_api_request_duration_seconds",
    "Time to handle an HTTP request.",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
)
# An export's time is its window's rows streamed to a client over its own connection: seconds to minutes.
EXPORT_DURATION = Histogram(
    "fleet_api_export_duration_seconds",
    "Time to stream an export to its end",
    ["route"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
REFUSED = Counter("fleet_api_refused_total", "Requests refused by the abuse limits before routing.", ["reason"])
SHED = Counter(
    "fleet_api_shed_total", "Requests answered 503: the API or its database at capacity or away.", ["reason"]
)
IN_FLIGHT = Gauge(
    "fleet_api_requests_in_flight",
    "Requests being handled that count against the admission limit.",
    multiprocess_mode="livesum",
)


def exposition() -> bytes:
    """The text exposition of this process's metrics, or of every worker's when `fleet api` runs several."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
