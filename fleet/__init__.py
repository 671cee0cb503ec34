"""Shared core of fleet: wire contract, settings, database and metrics helpers; imports none of the services."""
