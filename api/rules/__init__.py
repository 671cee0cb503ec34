"""The detectors' rules over HTTP: each detector's rule in force, the tenant's and its groups' overrides."""
