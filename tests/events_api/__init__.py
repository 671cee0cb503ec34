"""Tests of the events, alarms, rules and geofences API and of the alarm gauges."""
