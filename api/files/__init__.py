"""Files of a tenant's units (tachograph downloads, clips, logs): their state, their bytes, legal holds."""
