"""Dead letters: what ingest could not store, which tenant may see each, and replaying them."""
