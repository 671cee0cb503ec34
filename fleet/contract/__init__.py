"""Wire contract v1: topics, record schemas and decoding, shared by the simulator and ingest."""
