"""Authentication by bearer token (the caller's tenant, token and role) and the role check."""
