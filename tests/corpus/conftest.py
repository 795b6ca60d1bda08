"""Where the Photoshop corpus is, for tests marked `corpus` (skipped when it is absent).

Set MOCKFARM_CORPUS to point elsewhere; the default is ../shared/corpus beside
the repository.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from compositor.fidelity import corpus_dir


def _manifest_rows(corpus: Path) -> list[dict]:
    with (corpus / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if not (path / "manifest.csv").is_file():
        pytest.skip(f"Photoshop corpus not found at {path} (set MOCKFARM_CORPUS)")
    return path


@pytest.fixture(scope="session")
def corpus_manifest(corpus) -> list[dict]:
    """manifest.csv rows: path, colour mode, depth, smart objects, psd-tools' psnr_rgb..."""
    return _manifest_rows(corpus)
