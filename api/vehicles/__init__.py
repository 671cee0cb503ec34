"""Vehicles of a tenant."""
