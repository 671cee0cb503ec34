"""Tenants and their API tokens: the unit of isolation, and who a bearer token speaks for."""
