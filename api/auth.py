"""Who is calling: every `/api/v1/*` and `/mockup-generator/*` request carries an
API key, in `x-api-key` or as `Authorization: Bearer <key>` (Printful's clients
send the latter).

The key's row is looked up before the view runs; the view reads `g.api_key` (an
`shared.accounts.ApiKey`) and scopes everything it touches to `g.api_key.account_id`.
"""
from __future__ import annotations

from flask import g, request
from flask_smorest import abort

from shared import accounts

API_PREFIX = "/api/v1/"
# Printful's mockup generator routes (api/printful.py) sit at the root, where
# Printful's clients expect them, and need a key too.
PRINTFUL_PREFIX = "/mockup-generator/"
# What anyone may read: the description of the API and its page.
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json", "/api/v1/docs"})

# Unknown, revoked and expired keys get the same answer: it must not tell an
# attacker which keys once existed.
INVALID_KEY = "invalid API key (it is unknown, revoked or expired)"
MISSING_KEY = "no API key: send it in the x-api-key header (or as Authorization: Bearer <key>)"


def presented_key() -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def authenticate_request() -> None:
    """A before_request hook: 401 unless the request carries a usable key."""
    if not request.path.startswith((API_PREFIX, PRINTFUL_PREFIX)) or request.path in PUBLIC_PATHS:
        return
    if request.endpoint is None:
        # No such route or method: the 404/405 says more than a 401 would.
        return
    key = presented_key()
    if key is None:
        abort(401, message=MISSING_KEY, headers={"WWW-Authenticate": 'Bearer realm="mockfarm"'})
    api_key = accounts.authenticate(key)
    if api_key is None:
        abort(401, message=INVALID_KEY, headers={"WWW-Authenticate": 'Bearer realm="mockfarm"'})
    g.api_key = api_key


def current_key() -> accounts.ApiKey:
    return g.api_key


def rate_limit_key() -> str:
    """What Flask-Limiter counts requests by: the API key (its id, never the key)."""
    api_key = getattr(g, "api_key", None)
    return f"key:{api_key.id}" if api_key else f"ip:{request.remote_addr}"
