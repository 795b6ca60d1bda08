"""/api/v1/keys: the caller's account's API keys (metadata only; a key itself is
shown once, in the answer that made it)."""
from __future__ import annotations

from dataclasses import asdict

from flask_smorest import Blueprint, abort

from api.auth import current_key
from shared import accounts
from shared.schemas import ApiKeyListResponse, ApiKeyResponse, CreateKeyRequest, NewApiKeyResponse

blp = Blueprint("keys", __name__, url_prefix="/api/v1/keys", description="API keys of your account")


def key_data(key: accounts.ApiKey) -> dict:
    return asdict(key)


@blp.route("", methods=["GET"])
@blp.response(200, ApiKeyListResponse)
def list_keys():
    """Every key of the account, revoked and expired ones included, oldest first."""
    return {"data": [key_data(key) for key in accounts.list_keys(current_key().account_id)]}


@blp.route("", methods=["POST"])
@blp.arguments(CreateKeyRequest)
@blp.response(201, NewApiKeyResponse)
def create_key(params: dict):
    """Make another key for the account. The answer holds the key: store it, it is
    never shown again."""
    key, plaintext = accounts.create_key(current_key().account_id, name=params["name"],
                                         expires_in_days=params["expires_in_days"])
    return {"data": {**key_data(key), "key": plaintext}}, 201


@blp.route("/<string:key_id>", methods=["DELETE"])
@blp.response(200, ApiKeyResponse)
@blp.alt_response(404, description="the account has no key with this id")
def revoke_key(key_id: str):
    """Revoke a key: it stops working at once (the key making this call may revoke itself)."""
    key = accounts.revoke_key(key_id, account_id=current_key().account_id)
    if key is None:
        abort(404, message=f"no key with id {key_id!r}")
    return {"data": key_data(key)}
