"""Every setting mockfarm reads, from environment variables, with working local defaults.

The defaults describe the stack that `make up` starts on this machine (ports of its
own, state under `.run/`). Pointing the same code at real MinIO and a managed
PostgreSQL is a matter of setting these variables; nothing else changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from compositor.limits import PLAN_CACHE_BYTES, PLAN_DISK_CACHE_BYTES

# The repository root when running from a checkout; the state folder lives under it.
_REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """One immutable snapshot of the configuration (see README, "Configuration")."""

    # Where `make up` keeps pid files, logs and the data of the local servers.
    state_dir: Path = field(default_factory=lambda: Path(_env("MOCKFARM_STATE_DIR", str(_REPO_ROOT / ".run"))))

    # PostgreSQL: the system of record.
    database_url: str = field(default_factory=lambda: _env(
        "MOCKFARM_DATABASE_URL", "postgresql://mockfarm@127.0.0.1:15432/mockfarm"))
    database_pool_size: int = field(default_factory=lambda: _env_int("MOCKFARM_DATABASE_POOL_SIZE", 5))

    # Redis: the Celery broker.
    redis_url: str = field(default_factory=lambda: _env("MOCKFARM_REDIS_URL", "redis://127.0.0.1:16379/0"))

    # S3 (MinIO in production, SeaweedFS locally).
    s3_endpoint: str = field(default_factory=lambda: _env("MOCKFARM_S3_ENDPOINT", "http://127.0.0.1:18333"))
    s3_access_key: str = field(default_factory=lambda: _env("MOCKFARM_S3_ACCESS_KEY", "mockfarm"))
    s3_secret_key: str = field(default_factory=lambda: _env("MOCKFARM_S3_SECRET_KEY", "mockfarm-local-secret"))
    s3_region: str = field(default_factory=lambda: _env("MOCKFARM_S3_REGION", "us-east-1"))
    s3_bucket: str = field(default_factory=lambda: _env("MOCKFARM_S3_BUCKET", "mockfarm"))
    # The address clients use to fetch results, when it differs from the one the
    # services use (e.g. `http://minio:9000` inside docker compose, `http://localhost:9000`
    # outside). Presigned URLs are signed for this host. Empty means `s3_endpoint`.
    s3_public_endpoint: str = field(default_factory=lambda: _env("MOCKFARM_S3_PUBLIC_ENDPOINT", ""))
    # How long a presigned result URL stays valid, in seconds (Printful keeps 72 h).
    # Results are deleted this long after their task finished, so it also bounds how
    # long the farm keeps them.
    result_url_ttl: int = field(default_factory=lambda: _env_int("MOCKFARM_RESULT_URL_TTL", 72 * 3600))
    # How often Celery beat runs the cleanup of expired results, in seconds.
    cleanup_interval: int = field(default_factory=lambda: _env_int("MOCKFARM_CLEANUP_INTERVAL", 900))

    # The HTTP API and the operators' dashboard.
    api_host: str = field(default_factory=lambda: _env("MOCKFARM_API_HOST", "127.0.0.1"))
    api_port: int = field(default_factory=lambda: _env_int("MOCKFARM_API_PORT", 18000))
    api_workers: int = field(default_factory=lambda: _env_int("MOCKFARM_API_WORKERS", 2))
    # Threads per gunicorn worker (gthread): a call held open by `?wait=N` occupies one
    # thread, not a whole worker process.
    api_threads: int = field(default_factory=lambda: _env_int("MOCKFARM_API_THREADS", 8))
    # Requests per API key (Flask-Limiter notation, counted in Redis), e.g. "600/minute"
    # or "10/second;600/minute".
    rate_limit: str = field(default_factory=lambda: _env("MOCKFARM_RATE_LIMIT", "600/minute"))
    # Largest request body the API reads, in bytes; bigger ones get 413.
    max_request_bytes: int = field(default_factory=lambda: _env_int("MOCKFARM_MAX_REQUEST_BYTES", 256 * 1024 * 1024))
    flower_port: int = field(default_factory=lambda: _env_int("MOCKFARM_FLOWER_PORT", 15555))
    flower_user: str = field(default_factory=lambda: _env("MOCKFARM_FLOWER_USER", "admin"))
    flower_password: str = field(default_factory=lambda: _env("MOCKFARM_FLOWER_PASSWORD", "mockfarm"))

    # Celery task limits, in seconds: soft raises inside the task, hard kills the child.
    task_soft_time_limit: int = field(default_factory=lambda: _env_int("MOCKFARM_TASK_SOFT_TIME_LIMIT", 120))
    task_time_limit: int = field(default_factory=lambda: _env_int("MOCKFARM_TASK_TIME_LIMIT", 150))
    # A task whose worker died is handed to another worker after this many seconds
    # (Redis broker). It must exceed the hard time limit, or a slow but healthy task
    # would be run twice at once.
    broker_visibility_timeout: int = field(default_factory=lambda: _env_int(
        "MOCKFARM_BROKER_VISIBILITY_TIMEOUT", 300))
    # A task delivered this many times without finishing (its worker kept dying) is
    # marked failed instead of being run again.
    task_max_attempts: int = field(default_factory=lambda: _env_int("MOCKFARM_TASK_MAX_ATTEMPTS", 3))
    # Processes per worker pool; the machine's cores are shared by both pools.
    ingest_concurrency: int = field(default_factory=lambda: _env_int("MOCKFARM_INGEST_CONCURRENCY", 1))
    render_concurrency: int = field(default_factory=lambda: _env_int("MOCKFARM_RENDER_CONCURRENCY", 2))
    # A bulk task's items still unfinished this many seconds after it started are
    # marked failed by beat's sweeper, so that the bulk task ends even if an item's
    # message was lost (each item also has the task time limits above).
    bulk_time_limit: int = field(default_factory=lambda: _env_int("MOCKFARM_BULK_TIME_LIMIT", 3600))
    # OpenCV threads in each render process. The pool already runs a process per core:
    # more threads per process only make renders that run side by side contend.
    render_threads: int = field(default_factory=lambda: _env_int("MOCKFARM_RENDER_THREADS", 1))
    # Test-only: every render sleeps this long first, so that a test can kill a worker
    # mid-task. Zero in any real deployment.
    render_delay_ms: int = field(default_factory=lambda: _env_int("MOCKFARM_RENDER_DELAY_MS", 0))

    # Webhooks (README, "Webhooks"). A delivery is retried after base, 2 x base,
    # 4 x base... seconds (at most webhook_backoff_max apart) until it is
    # webhook_max_age seconds old; each POST may take webhook_timeout seconds in all.
    webhook_max_age: int = field(default_factory=lambda: _env_int("MOCKFARM_WEBHOOK_MAX_AGE", 24 * 3600))
    webhook_backoff_base: float = field(default_factory=lambda: _env_float("MOCKFARM_WEBHOOK_BACKOFF_BASE", 1.0))
    webhook_backoff_max: int = field(default_factory=lambda: _env_int("MOCKFARM_WEBHOOK_BACKOFF_MAX", 3600))
    webhook_timeout: float = field(default_factory=lambda: _env_float("MOCKFARM_WEBHOOK_TIMEOUT", 10.0))
    # Processes of the webhooks pool: deliveries wait on the network, not the CPU.
    webhook_concurrency: int = field(default_factory=lambda: _env_int("MOCKFARM_WEBHOOK_CONCURRENCY", 2))

    # Compiled render plans each render process keeps (compositor.plancache): in
    # memory up to this many bytes of arrays (least recently used out first; the
    # 4000-px demo's plan weighs about 330 MiB), then in a local folder up to
    # plan_disk_cache_bytes of files. An empty folder means <state dir>/plan-cache.
    plan_cache_bytes: int = field(default_factory=lambda: _env_int("MOCKFARM_PLAN_CACHE_BYTES", PLAN_CACHE_BYTES))
    plan_cache_dir: str = field(default_factory=lambda: _env("MOCKFARM_PLAN_CACHE_DIR", ""))
    plan_disk_cache_bytes: int = field(default_factory=lambda: _env_int(
        "MOCKFARM_PLAN_DISK_CACHE_BYTES", PLAN_DISK_CACHE_BYTES))

    # Side of the demo template `make up` uploads and renders (its ingest must fit the
    # task time limit; the benchmark uses 4000).
    demo_template_size: int = field(default_factory=lambda: _env_int("MOCKFARM_DEMO_TEMPLATE_SIZE", 2000))

    # Security limits, in one place (see README, "Limits").
    max_image_pixels: int = field(default_factory=lambda: _env_int("MOCKFARM_MAX_IMAGE_PIXELS", 100_000_000))
    max_output_side: int = field(default_factory=lambda: _env_int("MOCKFARM_MAX_OUTPUT_SIDE", 10_000))
    # Templates: the largest canvas side and area an ingest accepts, read from the
    # PSD's header before anything is decoded (a PSB may claim 300000 px a side).
    max_psd_side: int = field(default_factory=lambda: _env_int("MOCKFARM_MAX_PSD_SIDE", 30_000))
    max_psd_pixels: int = field(default_factory=lambda: _env_int("MOCKFARM_MAX_PSD_PIXELS", 100_000_000))

    def __post_init__(self) -> None:
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("MOCKFARM_TASK_SOFT_TIME_LIMIT must be below MOCKFARM_TASK_TIME_LIMIT")
        if self.broker_visibility_timeout <= self.task_time_limit:
            raise ValueError("MOCKFARM_BROKER_VISIBILITY_TIMEOUT must exceed MOCKFARM_TASK_TIME_LIMIT")
        if self.task_max_attempts < 1:
            raise ValueError("MOCKFARM_TASK_MAX_ATTEMPTS must be at least 1")
        if not 1 <= self.result_url_ttl <= 7 * 24 * 3600:
            # S3 signatures (SigV4) cannot outlive 7 days.
            raise ValueError("MOCKFARM_RESULT_URL_TTL must be 1 s to 7 days (604800)")
        if self.bulk_time_limit < 1:
            raise ValueError("MOCKFARM_BULK_TIME_LIMIT must be at least 1")
        if self.cleanup_interval < 1:
            raise ValueError("MOCKFARM_CLEANUP_INTERVAL must be at least 1")
        if self.webhook_max_age < 1:
            raise ValueError("MOCKFARM_WEBHOOK_MAX_AGE must be at least 1")
        if not 0 < self.webhook_backoff_base <= self.webhook_backoff_max:
            raise ValueError("MOCKFARM_WEBHOOK_BACKOFF_BASE must be above 0 and at most MOCKFARM_WEBHOOK_BACKOFF_MAX")
        if not 0 < self.webhook_timeout <= 60:
            raise ValueError("MOCKFARM_WEBHOOK_TIMEOUT must be above 0 and at most 60")
        if self.render_threads < 1:
            raise ValueError("MOCKFARM_RENDER_THREADS must be at least 1")
        if self.webhook_concurrency < 1:
            raise ValueError("MOCKFARM_WEBHOOK_CONCURRENCY must be at least 1")
        if self.plan_cache_bytes < 0:
            raise ValueError("MOCKFARM_PLAN_CACHE_BYTES must be a number of bytes, 0 or more")
        if self.plan_disk_cache_bytes < 0:
            raise ValueError("MOCKFARM_PLAN_DISK_CACHE_BYTES must be a number of bytes, 0 or more")

    @property
    def plan_cache_path(self) -> Path:
        """The folder of the render processes' plan files (shared by the processes of one machine)."""
        return Path(self.plan_cache_dir) if self.plan_cache_dir else self.state_dir / "plan-cache"

    @property
    def s3_presign_endpoint(self) -> str:
        return self.s3_public_endpoint or self.s3_endpoint

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def flower_url(self) -> str:
        return f"http://127.0.0.1:{self.flower_port}"

    def as_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        return {f"MOCKFARM_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    def as_table(self) -> list[tuple[str, str]]:
        """(field, value) pairs with secrets masked, for `mockfarm status` and the logs."""
        rows = []
        for f in fields(self):
            value = str(getattr(self, f.name))
            if "secret" in f.name or "password" in f.name:
                value = "***"
            rows.append((f.name, value))
        return rows


def load_settings() -> Settings:
    """Read the environment now (tests change it between calls)."""
    return Settings()
