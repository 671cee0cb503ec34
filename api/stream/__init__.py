"""`GET /v1/stream`: a tenant's live feed as Server-Sent Events, resumable with Last-Event-ID (docs/live.md)."""
