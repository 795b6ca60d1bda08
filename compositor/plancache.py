"""Compiled plans kept by a render worker: in memory (LRU, bounded by bytes), then on local disk.

A worker renders many jobs of the same few templates: loading a plan (unzip,
float16 -> float32) costs far more than a render, so plans stay in memory up
to `max_bytes` (the arrays' real sizes, `RenderPlan.nbytes`), least recently
used first out. Serialised plans also go to a local disk folder (bounded
too), so a plan pushed out of memory comes back without a trip to object
storage.

    cache = PlanCache(max_bytes=2 << 30, disk_dir=cache_folder)   # MOCKFARM_PLAN_CACHE_* in workers
    plan = cache.get_or_load(template_key, lambda: storage.read(plan_key))
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from compositor.errors import InvalidOption
from compositor.limits import PLAN_CACHE_BYTES, PLAN_DISK_CACHE_BYTES
from compositor.plan import RenderPlan


class PlanCache:
    def __init__(self, max_bytes: int = PLAN_CACHE_BYTES, disk_dir: str | os.PathLike | None = None,
                 disk_max_bytes: int = PLAN_DISK_CACHE_BYTES):
        for name, value in (("max_bytes", max_bytes), ("disk_max_bytes", disk_max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidOption(name, f"must be a number of bytes (integer >= 0), got {value!r}")
        self.max_bytes = max_bytes
        self.disk_max_bytes = disk_max_bytes
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        self._plans: OrderedDict[str, tuple[RenderPlan, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        if self.disk_dir is not None:
            self.disk_dir.mkdir(parents=True, exist_ok=True)

    @property
    def memory_bytes(self) -> int:
        """Bytes of the plans held in memory (their arrays' real sizes)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._plans)

    def __contains__(self, key: str) -> bool:
        return key in self._plans

    def get(self, key: str) -> RenderPlan | None:
        """The plan from memory, else from disk (then kept in memory), else None."""
        with self._lock:
            entry = self._plans.get(key)
            if entry is not None:
                self._plans.move_to_end(key)
                return entry[0]
        data = self._read_disk(key)
        if data is None:
            return None
        plan = RenderPlan.from_bytes(data)
        self._keep(key, plan)
        return plan

    def put(self, key: str, plan: RenderPlan, data: bytes | None = None) -> None:
        """Keep a plan; `data` (its serialised bytes, if at hand) goes to the disk tier."""
        if self.disk_dir is not None:
            self._write_disk(key, data if data is not None else plan.to_bytes())
        self._keep(key, plan)

    def get_or_load(self, key: str, load_bytes: Callable[[], bytes]) -> RenderPlan:
        """The cached plan, or the one `load_bytes()` returns serialised (then cached)."""
        plan = self.get(key)
        if plan is None:
            data = load_bytes()
            plan = RenderPlan.from_bytes(data)
            self.put(key, plan, data)
        return plan

    # memory ---------------------------------------------------------------------

    def _keep(self, key: str, plan: RenderPlan) -> None:
        size = plan.nbytes()
        with self._lock:
            old = self._plans.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return  # larger than the whole budget: used once, never kept
            self._plans[key] = (plan, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._plans.popitem(last=False)
                self._bytes -= evicted

    # disk -----------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.disk_dir / (hashlib.sha256(key.encode()).hexdigest() + ".plan")

    def _read_disk(self, key: str) -> bytes | None:
        if self.disk_dir is None:
            return None
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            os.utime(path)  # most recently used: last to be removed
        except FileNotFoundError:
            pass  # another process sharing the folder removed it after our read
        return data

    def _write_disk(self, key: str, data: bytes) -> None:
        if len(data) > self.disk_max_bytes:
            return
        path = self._path(key)
        partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a file
        # The folder may be shared by a machine's render processes: a file
        # another one removes meanwhile is simply gone.
        files = []
        for other in self.disk_dir.glob("*.plan"):
            try:
                stat = other.stat()
            except FileNotFoundError:
                continue
            files.append((stat.st_mtime, stat.st_size, other))
        files.sort(key=lambda entry: entry[0])
        total = sum(size for _, size, _ in files)
        for _, size, old in files:
            if total <= self.disk_max_bytes:
                break
            if old == path:
                continue
            total -= size
            old.unlink(missing_ok=True)
