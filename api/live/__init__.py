"""Latest known state of the vehicles (position, CAN values, connection)."""
