"""Messages and records of a tenant that ingest could not store."""
