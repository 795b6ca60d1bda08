"""Object storage over the S3 API with the `minio` client (MinIO in production,
SeaweedFS in the local stack): results are written here and handed out as presigned URLs.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error

from shared.config import Settings, load_settings

S3_CONNECTIONS_PER_PROCESS = 16


def _client_for(endpoint: str, settings: Settings) -> Minio:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"S3 endpoint must look like http(s)://host:port, got {endpoint!r}")
    # Short timeouts and few retries: a stalled S3 must surface as an error, not a hang.
    # Connections kept per host: one per thread that may talk to S3 at once (the API's
    # threads, a multipart upload's parallel parts); beyond it urllib3 opens a new
    # connection and throws it away after one request (the default keeps just one).
    http = urllib3.PoolManager(
        maxsize=S3_CONNECTIONS_PER_PROCESS,
        timeout=urllib3.Timeout(connect=5, read=60),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
    )
    # The region is given so that the client never asks the server for it: presigning
    # then needs no network, and works for a public endpoint the services cannot reach.
    return Minio(
        parts.netloc,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=parts.scheme == "https",
        region=settings.s3_region,
        http_client=http,
    )


class Storage:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        self.bucket = self.settings.s3_bucket
        self.client = _client_for(self.settings.s3_endpoint, self.settings)
        self._presign_client = _client_for(self.settings.s3_presign_endpoint, self.settings)

    def ensure_bucket(self) -> bool:
        """Create the bucket unless it exists; True when it was created."""
        if self.client.bucket_exists(self.bucket):
            return False
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as exc:
            # Another process created it between the two calls.
            if exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise
        return True

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def put_file(self, key: str, file, length: int, content_type: str) -> None:
        """Upload `length` bytes read from a binary file object (large objects go in parts)."""
        self.client.put_object(self.bucket, key, file, length, content_type=content_type)

    def get_bytes(self, key: str) -> bytes:
        response = self.client.get_object(self.bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def delete(self, key: str) -> None:
        """Remove an object; removing one that is already gone is not an error (S3 says so too)."""
        self.client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> list[str]:
        """Remove every object whose key starts with `prefix`; answer their keys."""
        keys = [item.object_name for item in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)]
        for key in keys:
            self.delete(key)
        return keys

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return False
            raise
        return True

    def presigned_get(self, key: str, lifetime_seconds: int | None = None) -> tuple[str, datetime]:
        """A URL anyone can GET until it expires, and the moment it expires (UTC)."""
        lifetime = self.settings.result_url_ttl if lifetime_seconds is None else lifetime_seconds
        # S3 signatures (SigV4) cannot live longer than 7 days.
        if not 1 <= lifetime <= 7 * 24 * 3600:
            raise ValueError(f"presigned URL lifetime must be 1 s to 7 days, got {lifetime} s")
        signed_at = datetime.now(timezone.utc).replace(microsecond=0)
        url = self._presign_client.presigned_get_object(
            self.bucket, key, expires=timedelta(seconds=lifetime), request_date=signed_at)
        return url, signed_at + timedelta(seconds=lifetime)

    def ping(self) -> None:
        """Raise unless the server answers and the bucket exists."""
        if not self.client.bucket_exists(self.bucket):
            raise RuntimeError(f"bucket {self.bucket!r} does not exist")


_process_storage: Storage | None = None


def get_storage() -> Storage:
    """The storage client of this process, made on first use.

    Made lazily so that a forked worker or gunicorn process builds its own
    connection pool after the fork instead of sharing its parent's.
    """
    global _process_storage
    if _process_storage is None:
        _process_storage = Storage()
    return _process_storage
