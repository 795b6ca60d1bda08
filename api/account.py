"""GET /api/v1/me: who the key belongs to, the key itself, and the account's usage."""
from __future__ import annotations

from dataclasses import asdict

from flask_smorest import Blueprint

from api.auth import current_key
from shared import accounts
from shared.schemas import MeResponse

blp = Blueprint("account", __name__, url_prefix="/api/v1", description="Your account")


@blp.route("/me")
@blp.response(200, MeResponse)
def me():
    """The account, the key used for this call, and usage: completed renders and their
    print files (failed renders are listed apart and not counted as usage)."""
    key = current_key()
    return {"data": {
        "account": asdict(accounts.get_account(key.account_id)),
        "key": asdict(key),
        "usage": accounts.usage(key.account_id),
    }}
