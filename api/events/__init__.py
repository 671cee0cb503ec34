"""Events of a tenant's vehicles over HTTP: reported by their units or detected from telemetry; list, count, get."""
