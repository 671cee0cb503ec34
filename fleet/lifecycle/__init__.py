"""Retention of the hot tier: how long each table keeps its rows, and removing what is past it once archived."""
