"""The HTTP front door: authenticates, validates, records and enqueues. It never composites."""
