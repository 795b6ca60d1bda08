"""Errors with a message meant for the person who sent the request."""
from __future__ import annotations


class MockfarmError(Exception):
    """Base class: the message is safe and useful to show to the client."""


class InvalidInput(MockfarmError):
    """The request or the task parameters cannot be rendered (a client's mistake)."""


class ServiceUnavailable(MockfarmError):
    """A service the farm depends on (Redis, PostgreSQL, S3) did not answer."""
