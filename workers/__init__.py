"""Celery apps: the ingest and render queues, and webhook delivery."""
