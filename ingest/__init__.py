"""MQTT ingest: validate uplink messages, store them in batches, acknowledge after commit."""
