"""GNSS positions of a vehicle over time."""
