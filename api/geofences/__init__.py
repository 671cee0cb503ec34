"""A tenant's geofences over HTTP: depots, no-go zones and other zones whose entering and leaving are events."""
