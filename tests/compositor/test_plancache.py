"""The plan cache stays within its byte bound, in memory and on disk, and loses nothing."""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from compositor.errors import InvalidOption
from compositor.fixtures import build_demo_template
from compositor.plan import RenderPlan, compile_template
from compositor.plancache import PlanCache

PLANS = 50


@pytest.fixture(scope="module")
def plan_bytes() -> bytes:
    return compile_template(build_demo_template(160)).to_bytes()


def test_fifty_plans_stay_within_the_memory_bound(plan_bytes, tmp_path):
    one = compile_template(build_demo_template(160)).nbytes()
    bound = 8 * one + one // 2
    cache = PlanCache(max_bytes=bound, disk_dir=tmp_path)
    gc.collect()
    tracemalloc.start()
    try:
        for index in range(PLANS):
            cache.get_or_load(f"template-{index}", lambda: plan_bytes)
            assert cache.memory_bytes <= bound
        gc.collect()
        # What numpy really allocated and the cache still holds (tracemalloc
        # sees array buffers), not our own estimate.
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cache) == 8
    assert held <= bound + 1024 * 1024
    assert held >= cache.memory_bytes  # the figure the cache bounds is real memory
    # The least recently used went out of memory, not out of reach.
    assert "template-0" not in cache
    assert len(list(tmp_path.glob("*.plan"))) == PLANS
    again = cache.get("template-0")
    assert again is not None and "template-0" in cache
    assert cache.memory_bytes <= bound
    # ... and comes back from disk whole: the same base and formula arrays.
    original = RenderPlan.from_bytes(plan_bytes)
    assert again.manifest() == original.manifest()
    assert all(np.array_equal(again.base[f], original.base[f]) for f in original.base)
    for ours, theirs in zip(again.smart_objects, original.smart_objects):
        for factor, arrays in theirs.levels.items():
            assert all(np.array_equal(ours.levels[factor][k], v) for k, v in arrays.items())


def test_render_processes_can_share_the_disk_folder(plan_bytes, tmp_path):
    # Two processes of one machine, one folder: each may remove what the other wrote.
    first = PlanCache(max_bytes=0, disk_dir=tmp_path, disk_max_bytes=2 * len(plan_bytes) + 10)
    second = PlanCache(max_bytes=0, disk_dir=tmp_path, disk_max_bytes=2 * len(plan_bytes) + 10)
    for index in range(6):
        (first if index % 2 else second).get_or_load(f"t{index}", lambda: plan_bytes)
    assert len(list(tmp_path.glob("*.plan"))) == 2
    assert first.get("t5") is not None and second.get("t4") is not None
    assert first.get("t0") is None


def test_a_hit_refreshes_a_plan(plan_bytes):
    cache = PlanCache(max_bytes=10 ** 9)
    first = cache.get_or_load("a", lambda: plan_bytes)
    one = cache.memory_bytes
    cache.max_bytes = 2 * one
    cache.get_or_load("b", lambda: plan_bytes)
    assert cache.get("a") is first  # "a" is now the most recent
    cache.get_or_load("c", lambda: plan_bytes)
    assert "a" in cache and "b" not in cache and "c" in cache
    assert cache.get("b") is None  # no disk tier: gone


def test_the_disk_tier_is_bounded(plan_bytes, tmp_path):
    cache = PlanCache(max_bytes=0, disk_dir=tmp_path, disk_max_bytes=3 * len(plan_bytes) + 10)
    for index in range(6):
        cache.get_or_load(f"t{index}", lambda: plan_bytes)
    files = list(tmp_path.glob("*.plan"))
    assert len(files) == 3
    assert sum(f.stat().st_size for f in files) <= cache.disk_max_bytes
    assert len(cache) == 0  # a zero budget keeps nothing in memory
    plan = cache.get("t5")
    assert plan is not None
    assert np.array_equal(plan.base[1], compile_template(build_demo_template(160)).base[1])


def test_bad_bounds_name_the_field():
    with pytest.raises(InvalidOption, match="max_bytes"):
        PlanCache(max_bytes=-1)
    with pytest.raises(InvalidOption, match="disk_max_bytes"):
        PlanCache(disk_max_bytes="lots")
