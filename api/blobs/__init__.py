"""The local blob store's endpoint: signed upload and download URLs, served by the API (no bearer token)."""
