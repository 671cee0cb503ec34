"""Authentication by bearer token and the tenant it belongs to."""
