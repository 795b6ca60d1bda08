"""Pieces of `mockfarm bench-api`: its percentiles and its artwork."""
from __future__ import annotations

from shared.bench_api import make_artwork, percentile


def test_percentile_is_the_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([3, 1, 2], 1.0) == 3


def test_photo_artwork_is_the_heavier_png_of_the_same_size():
    from io import BytesIO

    from PIL import Image

    design, photo = make_artwork(200), make_artwork(200, "photo")
    for data in (design, photo):
        image = Image.open(BytesIO(data))
        assert (image.format, image.size) == ("PNG", (200, 200))
    assert len(photo) > 2 * len(design)
