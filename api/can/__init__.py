"""CAN (Bus-FMS) samples of a vehicle over time."""
