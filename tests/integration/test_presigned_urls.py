"""The S3 server (SeaweedFS here, MinIO in production) honours presigned URLs and
refuses them once expired or altered: the guarantee behind result URLs."""
from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from shared.storage import Storage

pytestmark = pytest.mark.integration


@pytest.fixture()
def stored_object(farm):
    storage = Storage(farm.settings)
    key = f"tests/presign-{time.monotonic_ns()}.txt"
    storage.put_bytes(key, b"presigned content", "text/plain")
    return storage, key


def _with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_presigned_url_downloads(stored_object):
    storage, key = stored_object
    url, _ = storage.presigned_get(key, lifetime_seconds=60)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"presigned content"


def test_expired_url_is_refused(stored_object):
    storage, key = stored_object
    url, expires_at = storage.presigned_get(key, lifetime_seconds=2)
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(3.5)
    response = requests.get(url, timeout=10)
    assert response.status_code == 403
    assert b"expired" in response.content.lower()


def test_tampered_url_is_refused(stored_object):
    storage, key = stored_object
    url, _ = storage.presigned_get(key, lifetime_seconds=60)
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    forged_signature = ("0" if signature[0] != "0" else "1") + signature[1:]
    tampered = [
        _with_query(url, **{"X-Amz-Signature": forged_signature}),
        _with_query(url, **{"X-Amz-Expires": "604800"}),  # stretching the lifetime
        url.replace(key, key.replace("presign", "presigX")),  # another object
    ]
    for bad_url in tampered:
        assert requests.get(bad_url, timeout=10).status_code == 403, bad_url


def test_unsigned_request_is_refused(stored_object):
    storage, key = stored_object
    plain = f"{storage.settings.s3_endpoint}/{storage.bucket}/{key}"
    assert requests.get(plain, timeout=10).status_code == 403


def test_lifetime_is_bounded(stored_object):
    storage, key = stored_object
    for lifetime in (0, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError, match="lifetime"):
            storage.presigned_get(key, lifetime_seconds=lifetime)
