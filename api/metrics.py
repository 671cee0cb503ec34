"""Prometheus metrics of the API (default registry, served at /metrics).

- `fleet_api_requests_total{method,route,status}`: HTTP requests handled; `status` is the class ("2xx", "4xx"...).
- `fleet_api_request_duration_seconds{method,route}`: time to handle a request, histogram.
- `fleet_api_vehicles{state}`: vehicles by state, read from the database at each scrape: `reporting` (data within
  FLEET_API_SILENT_AFTER_SECONDS), `silent` (not announced offline, yet no data for longer), `offline`.
- `fleet_api_tachograph_overdue{kind}`: tachograph downloads overdue across tenants, read from the database at each
  scrape: `vehicle_unit` (a vehicle needing one whose last download, or registration, is older than its period),
  `driver_card` (a card whose last download is older than its period).
- `fleet_api_refused_total{reason}`: requests refused by the abuse limits before routing: `body_too_large` (413),
  `rate_limit` (429, a token past its rate), `auth_failures` (429, an address that keeps failing authentication).

`route` is the matched route template (e.g. `/v1/vehicles/{device_id}/positions`) or "unmatched"; `method` is one of
the standard HTTP methods or "other". No label ever holds a raw path, device id or tenant.
"""

from prometheus_client import Counter, Gauge, Histogram

# Dense around the 250 ms latency SLO so its burn rate can be read straight off the `le="0.25"` bucket.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.75, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("fleet_api_requests_total", "HTTP requests handled by the API.", ["method", "route", "status"])
REQUEST_DURATION = Histogram(
    "fleet_api_request_duration_seconds",
    "Time to handle an HTTP request.",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
)
VEHICLES = Gauge("fleet_api_vehicles", "Vehicles with any state, by reporting state.", ["state"])
VEHICLE_STATES = ("reporting", "silent", "offline")
TACHOGRAPH_OVERDUE = Gauge(
    "fleet_api_tachograph_overdue", "Tachograph downloads overdue, all tenants, by what is downloaded.", ["kind"]
)
REFUSED = Counter("fleet_api_refused_total", "Requests refused by the abuse limits before routing.", ["reason"])
