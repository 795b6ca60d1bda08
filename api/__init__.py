"""The HTTP front door: validates, records and enqueues. It never composites.

`create_app()` is the application factory (gunicorn: `gunicorn 'api:create_app()'`).
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from shared.config import load_settings


def _summarise(messages: dict) -> str:
    """One line for `detail`, e.g. 'invalid json: width: Not a valid integer.'"""
    parts = []
    for location, problems in messages.items():
        if isinstance(problems, dict):
            for field_name, reasons in problems.items():
                reasons = reasons if isinstance(reasons, list) else [reasons]
                parts.append(f"{location}.{field_name}: {' '.join(map(str, reasons))}")
        else:
            problems = problems if isinstance(problems, list) else [problems]
            parts.append(f"{location}: {' '.join(map(str, problems))}")
    return "invalid request: " + "; ".join(parts)


class MockfarmApi(Api):
    """flask-smorest, with every error answered as {"success": false, "detail": ...}."""

    def handle_http_exception(self, error: HTTPException):
        body = {"success": False, "detail": error.description or error.name}
        data = getattr(error, "data", None) or {}
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


def create_app() -> Flask:
    settings = load_settings()
    app = Flask(__name__)
    app.config.update(
        API_TITLE="mockfarm",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        MOCKFARM_SETTINGS=settings,
    )
    api = MockfarmApi(app)

    from api.health import blp as health_blp
    from api.renders import blp as renders_blp
    from api.tasks import blp as tasks_blp

    api.register_blueprint(health_blp)
    api.register_blueprint(renders_blp)
    api.register_blueprint(tasks_blp)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        # Anything not already an HTTP error: log it, tell the client only that it happened.
        if isinstance(error, HTTPException):
            return api.handle_http_exception(error)
        logging.getLogger("api").exception("unhandled error")
        response = jsonify({"success": False, "detail": "internal server error"})
        response.status_code = 500
        return response

    return app
