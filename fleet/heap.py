"""The collector tuned for a long-running service: what lives as long as the process is frozen out of it.

CPython's full collection rescans every object in the oldest generation, and a service holds hundreds of
thousands that never die (modules, routes, schemas, metadata, a simulator's buses): each pass stalled the process
for up to a tenth of a second in the API and ingest, and over half a second in a 10,000-bus simulator
(docs/benchmarks.md). Frozen objects are left out of every pass; they are still freed by reference counting.
"""

import gc

# Container allocations between young collections (CPython's default is 700). A service handles batches of
# thousands of short-lived objects (a request, 500 messages, a tick of the buses): collected every 700, most of
# a batch is caught alive and promoted, and the older generations, full passes included, then run far more often.
YOUNG_THRESHOLD = 50_000


def freeze_long_lived() -> None:
    """Collect once, freeze what survives out of later passes, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
