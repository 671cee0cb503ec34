"""Liveness, readiness and metrics endpoints for the orchestrator and Prometheus."""
