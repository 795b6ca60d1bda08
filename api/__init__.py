"""The HTTP front door: validates, records and enqueues. It never composites.

`create_app()` is the application factory (gunicorn: `gunicorn 'api:create_app()'`).
"""
from __future__ import annotations

import logging

import limits
import psycopg
import psycopg_pool
from flask import Flask, g, jsonify, request
from flask_limiter import Limiter
from flask_smorest import Api
from minio.error import S3Error
from werkzeug.exceptions import HTTPException

from api.auth import authenticate_request, rate_limit_key
from api.printful import error_response as printful_error
from api.printful import PrintfulErrorsPlugin, is_printful_path
from shared.config import load_settings
from shared.schemas import ErrorResponse


def _flatten(prefix: str, problems) -> list[str]:
    """Nested marshmallow messages as 'json.smart_objects.0.asset.rotate: reason' lines."""
    if isinstance(problems, dict):
        lines = []
        for name, inner in problems.items():
            lines.extend(_flatten(f"{prefix}.{name}", inner))
        return lines
    problems = problems if isinstance(problems, list) else [problems]
    if any(isinstance(problem, dict) for problem in problems):
        return [line for problem in problems for line in _flatten(prefix, problem)]
    return [f"{prefix}: {' '.join(map(str, problems))}"]


def _summarise(messages: dict) -> str:
    """One line for `detail`, e.g. 'invalid request: json.width: Not a valid integer.'"""
    parts = []
    for location, problems in messages.items():
        parts.extend(_flatten(location, problems))
    return "invalid request: " + "; ".join(parts)


class MockfarmApi(Api):
    """flask-smorest, with every error answered as {"success": false, "detail": ...}."""

    # Documents that shape as the default error response of every operation.
    ERROR_SCHEMA = ErrorResponse

    def handle_http_exception(self, error: HTTPException):
        response = self._error_response(error)
        if is_printful_path(request.path):
            # Printful's shape and status (it answers validation failures with 400).
            status = 400 if response.status_code == 422 else response.status_code
            printful_response = printful_error(status, response.get_json()["detail"])
            for name, value in response.headers.items():
                if name not in ("Content-Type", "Content-Length"):
                    printful_response.headers[name] = value
            return printful_response
        return response

    def _error_response(self, error: HTTPException):
        body = {"success": False, "detail": error.description or error.name}
        data = getattr(error, "data", None) or {}
        if error.code == 429:
            body["detail"] = f"too many requests for this API key: the limit is {error.description}"
        elif error.code == 413:
            body["detail"] = "the request body is too large (MOCKFARM_MAX_REQUEST_BYTES)"
        if "messages" in data:
            # Validation failures: which fields, where (json, query...) and why.
            body["detail"] = _summarise(data["messages"])
            body["errors"] = data["messages"]
        elif "message" in data:
            body["detail"] = data["message"]
        response = jsonify(body)
        response.status_code = error.code or 500
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        return response


# The OpenAPI security schemes: the same key, in either header.
SECURITY_SCHEMES = {
    "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "BearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "the same API key, as `Authorization: Bearer <key>`"},
}


def create_limiter(settings) -> Limiter:
    """Requests per API key, counted in Redis so that every API process shares the count.

    Requests without a usable key are refused (401) before they are counted. When Redis
    is down the limit is not enforced rather than every call failing (the calls that
    need the queue say 503 themselves).
    """
    # Flask-Limiter would only complain at the first request; refuse to start instead.
    try:
        limits.parse_many(settings.rate_limit)
    except ValueError:
        raise ValueError(f"MOCKFARM_RATE_LIMIT must look like '600/minute' or '10/second;600/minute', "
                         f"got {settings.rate_limit!r}") from None
    return Limiter(
        rate_limit_key,
        default_limits=[settings.rate_limit],
        default_limits_exempt_when=lambda: getattr(g, "api_key", None) is None,
        storage_uri=settings.redis_url,
        storage_options={"socket_connect_timeout": 2, "socket_timeout": 2},
        key_prefix="mockfarm-limits",
        headers_enabled=True,
        swallow_errors=True,
    )


def create_app() -> Flask:
    settings = load_settings()
    app = Flask(__name__)
    app.config.update(
        API_TITLE="mockfarm",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        # Every operation needs a key unless it says otherwise (health checks do).
        API_SPEC_OPTIONS={"security": [{name: []} for name in SECURITY_SCHEMES]},
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MOCKFARM_SETTINGS=settings,
    )
    api = MockfarmApi(app, spec_kwargs={"extra_plugins": [PrintfulErrorsPlugin()]})
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    app.extensions["mockfarm_api"] = api

    # Authentication first, so that the rate limiter (whose hook is added next) counts
    # requests by the key the caller proved to hold.
    app.before_request(authenticate_request)
    create_limiter(settings).init_app(app)

    from api.account import blp as account_blp
    from api.collections import blp as collections_blp
    from api.docs import blp as docs_blp
    from api.health import blp as health_blp
    from api.keys import blp as keys_blp
    from api.mockups import blp as mockups_blp
    from api.printful import blp as printful_blp
    from api.products import blp as products_blp
    from api.renders import blp as renders_blp
    from api.tasks import blp as tasks_blp
    from api.webhooks import blp as webhooks_blp

    api.register_blueprint(health_blp)
    api.register_blueprint(mockups_blp)
    api.register_blueprint(collections_blp)
    api.register_blueprint(renders_blp)
    api.register_blueprint(tasks_blp)
    api.register_blueprint(keys_blp)
    api.register_blueprint(account_blp)
    api.register_blueprint(webhooks_blp)
    api.register_blueprint(products_blp)
    api.register_blueprint(printful_blp)
    # A plain Flask blueprint: the page describes the API, it is not part of it.
    app.register_blueprint(docs_blp)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        # Anything not already an HTTP error: log it, tell the client only what kind of
        # failure it was, never a traceback or an HTML page.
        if isinstance(error, HTTPException):
            return api.handle_http_exception(error)
        if isinstance(error, (psycopg.OperationalError, psycopg_pool.PoolTimeout)):
            logging.getLogger("api").warning("database unavailable: %s", error)
            status, detail = 503, "the database is unavailable; try again later"
        elif isinstance(error, S3Error):
            logging.getLogger("api").warning("object storage error: %s", error)
            status, detail = 502, "the object storage answered with an error; try again later"
        else:
            logging.getLogger("api").exception("unhandled error")
            status, detail = 500, "internal server error"
        if is_printful_path(request.path):
            return printful_error(status, detail)
        response = jsonify({"success": False, "detail": detail})
        response.status_code = status
        return response

    return app
