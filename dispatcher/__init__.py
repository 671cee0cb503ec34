"""The downlink dispatcher: the one process that publishes to the vehicles' units, draining the outbox table."""
