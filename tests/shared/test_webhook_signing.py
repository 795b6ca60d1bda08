"""The webhook signature and backoff, against values computed independently."""
from __future__ import annotations

import hashlib
import hmac

from shared.webhooks import backoff, signature, verify_signature

SECRET = "whsec_test-secret"
BODY = b'{"id":"d1","event":"task.completed","created_at":"2026-01-01T00:00:00Z","data":{}}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1767225600, BODY) == f"v1={expected}"


def test_verify_accepts_a_fresh_signature_and_refuses_tampering_and_old_timestamps():
    headers = {"Mockfarm-Webhook-Timestamp": "1767225600",
               "Mockfarm-Webhook-Signature": signature(SECRET, 1767225600, BODY)}
    assert verify_signature(SECRET, headers, BODY, now=1767225600 + 10)
    assert not verify_signature("whsec_other", headers, BODY, now=1767225600 + 10)
    assert not verify_signature(SECRET, headers, BODY.replace(b"d1", b"d2"), now=1767225600 + 10)
    # Replayed later than the tolerance.
    assert not verify_signature(SECRET, headers, BODY, now=1767225600 + 301)
    # The timestamp is part of what is signed: changing it breaks the signature.
    moved = {**headers, "Mockfarm-Webhook-Timestamp": "1767225700"}
    assert not verify_signature(SECRET, moved, BODY, now=1767225700)
    assert not verify_signature(SECRET, {}, BODY)


def test_backoff_doubles_up_to_the_cap():
    assert [backoff(n, 1, 3600) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert backoff(13, 1, 3600) == 3600
    assert backoff(10_000, 1, 3600) == 3600
    assert [backoff(n, 0.2, 3600) for n in (1, 2, 3)] == [0.2, 0.4, 0.8]
