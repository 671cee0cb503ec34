"""The audit log of a tenant: its admin actions, newest first (admin role)."""
