"""Files of the vehicles' units: reports from ingest, grants and checks by the worker, retention."""
