"""Alarms over HTTP: list and count them, get one with its event, acknowledge and close them."""
