"""GET /api/v1/docs: the OpenAPI document as a plain HTML page, rendered here.

Swagger UI and ReDoc load their JavaScript from a CDN, which a farm on a private
network may not reach, and vendoring them means keeping megabytes of someone else's
code up to date. This page needs neither: it is the same document
(`/api/v1/openapi.json`), laid out by a Jinja template, and works offline.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

blp = Blueprint("docs", __name__)

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _schema_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def describe_type(schema: dict) -> str:
    """A schema as a short phrase: `string (date-time)`, `array of PrintFile`, `Task`."""
    if "$ref" in schema:
        return _schema_name(schema["$ref"])
    if "allOf" in schema:
        return " and ".join(describe_type(part) for part in schema["allOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return "array of " + describe_type(schema.get("items", {}))
    if schema.get("format"):
        kind += f" ({schema['format']})"
    if schema.get("nullable"):
        kind += ", or null"
    return kind


def _response_schema(response: dict, components: dict) -> str | None:
    if "$ref" in response:
        response = components.get("responses", {}).get(_schema_name(response["$ref"]), {})
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return describe_type(schema) if schema else None


def operations(spec: dict) -> list[dict]:
    components = spec.get("components", {})
    found = []
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            found.append({
                "method": method.upper(),
                "path": path,
                "summary": operation.get("summary", ""),
                "description": operation.get("description", ""),
                "public": operation.get("security", spec.get("security")) == [],
                "parameters": [
                    {"name": p["name"], "in": p["in"], "required": p.get("required", False),
                     "type": describe_type(p.get("schema", {})), "description": p.get("description", "")}
                    for p in item.get("parameters", []) + operation.get("parameters", [])],
                "body": describe_type(body["schema"]) if "schema" in body else None,
                "responses": [
                    {"status": status, "description": response.get("description", ""),
                     "schema": _response_schema(response, components)}
                    for status, response in operation.get("responses", {}).items()],
            })
    return found


@blp.route("/api/v1/docs")
def docs_page():
    spec = current_app.extensions["mockfarm_api"].spec.to_dict()
    return render_template("docs.html", spec=spec, operations=operations(spec), describe_type=describe_type)
