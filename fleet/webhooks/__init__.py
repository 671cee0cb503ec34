"""Webhooks: tenants' HTTP endpoints for the live-feed messages matching their filters; signed, retried, dead-lettered.

`service` manages webhooks and their deliveries, `fanout` turns feed messages into pending deliveries, `delivery`
sends them, `signing` signs them (and verifies, for receivers). docs/webhooks.md describes what a receiver gets.
"""
