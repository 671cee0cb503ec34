"""The worker: periodic work of the backend (answering file offers, checking uploads, file retention)."""
