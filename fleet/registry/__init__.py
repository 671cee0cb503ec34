"""Vehicle registration: which tenant each device belongs to."""
