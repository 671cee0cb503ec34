"""Commands to the vehicles' units: creation with its outbox message, the lifecycle, the unit's acks."""
