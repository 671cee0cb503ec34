"""Commands to a tenant's units over HTTP: queue one (idempotently), list, follow and cancel them."""
