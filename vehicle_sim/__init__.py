"""Simulated buses that speak only MQTT and wire contract v1 (`fleet sim`)."""
