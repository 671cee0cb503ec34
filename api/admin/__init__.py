"""Administration of a tenant over HTTP: its API tokens and its vehicles (admin role)."""
