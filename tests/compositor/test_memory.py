"""compositor.memory: a rendering process keeps freed memory for its next render."""
from __future__ import annotations

import subprocess
import sys

import pytest

from compositor.memory import ENV_SWITCH, keep_freed_memory

# Allocates and frees a 256 MB array, then prints how much of it stayed resident.
_PROBE = """
import sys
import numpy as np
from compositor.memory import keep_freed_memory

def resident_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

applied = keep_freed_memory() if sys.argv[1] == "keep" else False
before = resident_mb()
block = np.ones(256 * 2**20 // 8)
del block
print(applied, round(resident_mb() - before))
"""


def _probe(mode: str, env=None) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                         env=env).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_blocks_stay_for_reuse_only_when_kept():
    applied, kept = _probe("keep")
    assert applied
    assert kept >= 200  # the 256 MB block stays in the heap for the next render
    _, returned = _probe("default")
    assert returned < 50  # by default glibc unmaps a block that large when it is freed


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert keep_freed_memory() is False
