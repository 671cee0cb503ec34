"""Webhooks over HTTP: a tenant admin's endpoints for live-feed messages, and their deliveries."""
