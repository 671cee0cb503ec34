"""REST API for fleet operators: vehicles, telemetry, live state and dead letters, scoped to the caller's tenant."""
