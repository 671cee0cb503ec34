"""The downlink outbox: messages for the vehicles' units, written in the caller's transaction and published by the
dispatcher, the one process that publishes downlink (`dispatcher/`)."""
