"""The `fleet` command: the composition root that wires the services together."""
