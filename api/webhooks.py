"""/api/v1/webhooks: the account's webhook endpoints, its deliveries, and a test event
(README, "Webhooks"). Deliveries themselves are made by the `webhooks` worker pool."""
from __future__ import annotations

from dataclasses import asdict

from flask import request
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from api.auth import current_key
from shared import webhooks
from shared.schemas import (CreateWebhookRequest, DeliveryListResponse, DeliveryQuery, NewWebhookResponse,
                            SigningSecretResponse, UpdateWebhookRequest, WebhookListResponse, WebhookResponse,
                            WebhookTestRequest)

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks",
                description="Webhook endpoints, deliveries and test events")


@blp.before_request
def require_json():
    # An empty body is fine (POST /test sends to the endpoints); any other must be JSON.
    if request.method in ("POST", "PATCH") and request.content_length and not request.is_json:
        abort(415, message="send the request body as JSON (Content-Type: application/json)")


def endpoint_data(endpoint: webhooks.Endpoint) -> dict:
    return asdict(endpoint)


def delivery_data(delivery: webhooks.Delivery, attempts: list[webhooks.Attempt]) -> dict:
    data = {name: getattr(delivery, name) for name in (
        "id", "endpoint_id", "url", "event", "task_key", "status", "last_status_code", "last_error",
        "created_at", "delivered_at", "payload")}
    data["next_attempt_at"] = delivery.next_attempt_at if delivery.status == webhooks.PENDING else None
    data["attempts"] = [asdict(attempt) for attempt in attempts]
    return data


@blp.route("", methods=["GET"])
@blp.response(200, WebhookListResponse)
def list_endpoints():
    """The account's endpoints, oldest first (their secrets are never shown again)."""
    return {"data": [endpoint_data(e) for e in webhooks.list_endpoints(current_key().account_id)]}


@blp.route("", methods=["POST"])
@blp.arguments(CreateWebhookRequest)
@blp.response(201, NewWebhookResponse)
def create_endpoint(params: dict):
    """Add an endpoint. The answer holds its signing secret: store it, it is never
    shown again. URLs obey the same address rules as asset URLs (422 otherwise)."""
    endpoint, secret = webhooks.create_endpoint(current_key().account_id, params["url"], params["events"])
    return {"data": {**endpoint_data(endpoint), "secret": secret}}, 201


@blp.route("/<string:endpoint_id>", methods=["PATCH"])
@blp.arguments(UpdateWebhookRequest)
@blp.response(200, WebhookResponse)
@blp.alt_response(404, description="the account has no endpoint with this id")
def update_endpoint(params: dict, endpoint_id: str):
    """Switch an endpoint off (`"enabled": false`: nothing is sent to it, its pending
    retries stop) or on, or change its event types."""
    endpoint = webhooks.update_endpoint(endpoint_id, current_key().account_id, enabled=params.get("enabled"),
                                        events=params.get("events"))
    if endpoint is None:
        abort(404, message=f"no webhook endpoint with id {endpoint_id!r}")
    return {"data": endpoint_data(endpoint)}


@blp.route("/<string:endpoint_id>", methods=["DELETE"])
@blp.response(200, WebhookResponse)
@blp.alt_response(404, description="the account has no endpoint with this id")
def delete_endpoint(endpoint_id: str):
    """Delete an endpoint: nothing more is sent to it, its pending retries stop; its
    deliveries stay listed."""
    endpoint = webhooks.delete_endpoint(endpoint_id, current_key().account_id)
    if endpoint is None:
        abort(404, message=f"no webhook endpoint with id {endpoint_id!r}")
    return {"data": endpoint_data(endpoint)}


@blp.route("/deliveries", methods=["GET"])
# unknown=RAISE: a misspelt filter must be an error, not a silently unfiltered list.
@blp.arguments(DeliveryQuery, location="query", unknown=RAISE)
@blp.response(200, DeliveryListResponse)
def list_deliveries(query: dict):
    """The account's deliveries, newest first, each with every attempt made (what the
    receiver answered, or why the attempt failed)."""
    found, total = webhooks.list_deliveries(current_key().account_id, status=query["status"], event=query["event"],
                                            limit=query["limit"], offset=query["offset"])
    return {"data": [delivery_data(d, attempts) for d, attempts in found],
            "paging": {"total": total, "limit": query["limit"], "offset": query["offset"]}}


@blp.route("/test", methods=["POST"])
@blp.arguments(WebhookTestRequest)
@blp.response(202, DeliveryListResponse, description="the deliveries made, queued; follow them in /deliveries")
def send_test(params: dict):
    """Send a sample `webhook.test` event to `url`, or to every enabled endpoint of the account."""
    account_id = current_key().account_id
    url = params.get("url")
    if url is None and not any(e.enabled for e in webhooks.list_endpoints(account_id)):
        abort(422, message="the account has no enabled webhook endpoint: add one, or give a url")
    ids = webhooks.send_test(account_id, url)
    found, _ = webhooks.list_deliveries(account_id, ids=ids, limit=max(1, len(ids)))
    made = [delivery_data(d, attempts) for d, attempts in found]
    return {"data": made, "paging": {"total": len(made), "limit": len(made), "offset": 0}}, 202


@blp.route("/signing-secret", methods=["GET"])
@blp.response(200, SigningSecretResponse)
def signing_secret():
    """The account's secret for deliveries to a per-request `webhook_url` and tests sent
    to a given `url` (endpoints have their own)."""
    return {"data": {"secret": webhooks.account_signing_secret(current_key().account_id)}}
