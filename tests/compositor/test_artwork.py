"""Loading artwork: formats, orientation, colour profiles, limits, shrink on load, cache."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from compositor.artwork import Artwork, _ArtworkCache, clear_artwork_cache, load_artwork
from compositor.errors import InvalidArtwork, InvalidOption


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_artwork_cache()
    yield
    clear_artwork_cache()


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def srgb_encode(linear):
    """The sRGB transfer function, for expected values."""
    linear = np.asarray(linear, np.float64)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


# --- formats and modes ---------------------------------------------------------------


def test_png_rgba_keeps_every_value_and_alpha():
    pixels = np.random.default_rng(0).integers(0, 256, (7, 9, 4), dtype=np.uint8)
    artwork = load_artwork(encode(Image.fromarray(pixels, "RGBA"), "PNG"))
    assert isinstance(artwork, Artwork)
    assert artwork.rgba.dtype == np.float32 and artwork.size == (9, 7)
    assert artwork.format == "PNG" and artwork.reduced_by == 1
    np.testing.assert_allclose(artwork.rgba * 255, pixels, atol=1e-3)


def test_jpeg_decodes_to_opaque_rgb():
    artwork = load_artwork(encode(Image.new("RGB", (16, 16), (200, 30, 90)), "JPEG", quality=100))
    np.testing.assert_allclose(artwork.rgba[8, 8, :3] * 255, (200, 30, 90), atol=2)
    assert (artwork.rgba[..., 3] == 1).all()


def test_multi_picture_jpeg_is_a_jpeg_and_decodes_reduced():
    first = Image.new("RGB", (64, 48), (200, 10, 10))
    data = encode(first, "MPO", save_all=True, append_images=[Image.new("RGB", (64, 48), (0, 0, 255))])
    artwork = load_artwork(data, target_size=(16, 12))
    assert artwork.format == "JPEG" and artwork.size == (16, 12) and artwork.reduced_by == 4
    np.testing.assert_allclose(artwork.rgba[6, 8, :3] * 255, (200, 10, 10), atol=4)


def test_lossless_webp_keeps_alpha():
    pixels = np.zeros((4, 4, 4), np.uint8)
    pixels[..., 0] = 255
    pixels[:, :2, 3] = 255  # left half opaque red, right half transparent
    artwork = load_artwork(encode(Image.fromarray(pixels, "RGBA"), "WEBP", lossless=True))
    np.testing.assert_array_equal(artwork.rgba[:, :2, 3], 1)
    np.testing.assert_array_equal(artwork.rgba[:, 2:, 3], 0)
    np.testing.assert_allclose(artwork.rgba[:, :2, :3], [[[1, 0, 0]] * 2] * 4)


def test_gif_takes_the_first_frame_and_its_transparency():
    first = Image.new("P", (6, 6), 1)
    first.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    first.paste(0, (0, 0, 3, 6))  # left half: index 0, the transparent one
    second = Image.new("P", (6, 6), 2)
    second.putpalette(first.getpalette())
    data = encode(first, "GIF", save_all=True, append_images=[second], transparency=0, duration=100)
    rgba = load_artwork(data).rgba
    np.testing.assert_array_equal(rgba[:, :3, 3], 0)
    np.testing.assert_allclose(rgba[:, 3:], [[[1, 0, 0, 1]] * 3] * 6)  # red, not the second frame's blue


def test_palette_png_with_transparency():
    image = Image.new("P", (4, 2), 1)
    image.putpalette([10, 20, 30, 40, 50, 60] + [0] * (256 * 3 - 6))
    image.paste(0, (0, 0, 2, 2))
    rgba = load_artwork(encode(image, "PNG", transparency=0)).rgba
    np.testing.assert_array_equal(rgba[:, :2, 3], 0)
    np.testing.assert_allclose(rgba[:, 2:] * 255, [[[40, 50, 60, 255]] * 2] * 2, atol=1e-3)


def test_grayscale_with_alpha():
    pixels = np.array([[[100, 255], [200, 0]]], np.uint8)
    rgba = load_artwork(encode(Image.fromarray(pixels, "LA"), "PNG")).rgba
    np.testing.assert_allclose(rgba[0, 0] * 255, [100, 100, 100, 255], atol=1e-3)
    assert rgba[0, 1, 3] == 0


def test_16_bit_grayscale_keeps_its_precision():
    grey = np.full((3, 3), 30001, np.uint16)  # between two 8-bit levels
    image = Image.frombytes("I;16", (3, 3), grey.astype("<u2").tobytes())
    rgba = load_artwork(encode(image, "PNG")).rgba
    np.testing.assert_allclose(rgba[1, 1, :3], 30001 / 65535, rtol=1e-6)
    assert rgba[1, 1, 3] == 1


def test_16_bit_colour_png_with_alpha():
    import cv2

    pixels = np.zeros((3, 3, 4), np.uint16)  # OpenCV order: blue, green, red, alpha
    pixels[..., 2] = 65535
    pixels[..., 1] = 30000
    pixels[..., 3] = 32768
    ok, data = cv2.imencode(".png", pixels)
    rgba = load_artwork(data.tobytes()).rgba
    # Pillow reads 16-bit colour at 8 bits: each value within half an 8-bit step
    np.testing.assert_allclose(rgba[1, 1], [1, 30000 / 65535, 0, 32768 / 65535], atol=0.5 / 255 + 1e-6)


def test_cmyk_jpeg_without_profile_becomes_rgb():
    data = encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=100)
    rgba = load_artwork(data).rgba
    np.testing.assert_allclose(rgba[4, 4], [1, 0, 0, 1], atol=3 / 255)


# --- EXIF orientation ------------------------------------------------------------------


def marked_jpeg(orientation: int) -> bytes:
    """30 wide x 20 high, black, with a white 10 x 10 block in the top-left corner as stored."""
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:10, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_6_turns_the_image_upright():
    # Orientation 6: the camera was turned; displaying needs 90 degrees clockwise,
    # so the stored top-left corner ends up top-right.
    artwork = load_artwork(marked_jpeg(6))
    assert artwork.size == (20, 30) and artwork.original_size == (20, 30)
    rgba = artwork.rgba
    assert rgba[2:8, 12:18, 0].mean() > 0.95  # top right: white
    assert rgba[2:8, 2:8, 0].mean() < 0.05  # top left: black


def test_exif_orientation_in_png_and_webp():
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[0, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 8  # displaying needs 90 degrees anticlockwise: top-left goes bottom-left
    for fmt, options in (("PNG", {}), ("WEBP", {"lossless": True})):
        rgba = load_artwork(encode(Image.fromarray(pixels), fmt, exif=exif.tobytes(), **options)).rgba
        assert rgba.shape[:2] == (3, 2), fmt
        assert np.argwhere(rgba[..., 0] > 0.5).tolist() == [[2, 0]], fmt


def test_exif_orientation_3_turns_it_half_way():
    rgba = load_artwork(marked_jpeg(3)).rgba
    assert rgba.shape[:2] == (20, 30)
    assert rgba[12:18, 22:28, 0].mean() > 0.95  # bottom right
    assert rgba[2:8, 2:8, 0].mean() < 0.05


# --- ICC profiles ----------------------------------------------------------------------------


def _s15fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def linear_srgb_profile() -> bytes:
    """An ICC v2 RGB display profile with sRGB's primaries and white but a
    linear (gamma 1.0) tone curve, built tag by tag from sRGB's own colorants."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).profile
    colorants = {b"rXYZ": srgb.red_colorant[0], b"gXYZ": srgb.green_colorant[0],
                 b"bXYZ": srgb.blue_colorant[0], b"wtpt": srgb.media_white_point[0]}
    tags = [(b"desc", b"desc" + bytes(4) + struct.pack(">I", 13) + b"linear sRGB\0\0" + bytes(4 + 4 + 2 + 1 + 67))]
    for signature, xyz in colorants.items():
        tags.append((signature, b"XYZ " + bytes(4) + b"".join(_s15fixed16(v) for v in xyz)))
    gamma_one = b"curv" + bytes(4) + struct.pack(">IH", 1, 0x0100) + bytes(2)
    tags += [(b"rTRC", gamma_one), (b"gTRC", gamma_one), (b"bTRC", gamma_one)]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = 128 + table_size + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + bytes(12) + b"acsp" + bytes(24) + struct.pack(">I", 0)
              + _s15fixed16(0.9642) + _s15fixed16(1.0) + _s15fixed16(0.8249) + bytes(48))
    assert len(header) == 128
    return header + table + data


def test_embedded_profile_is_converted_to_srgb():
    levels = np.array([0, 64, 128, 200, 255], np.uint8)
    pixels = np.repeat(levels[None, :, None], 3, axis=2)  # greys, linear light in the file
    data = encode(Image.fromarray(pixels), "PNG", icc_profile=linear_srgb_profile())
    artwork = load_artwork(data)
    assert artwork.source_profile == "linear sRGB"
    expected = srgb_encode(levels / 255)
    np.testing.assert_allclose(artwork.rgba[0, :, 0], expected, atol=2 / 255)
    np.testing.assert_allclose(artwork.rgba[0, :, 1], artwork.rgba[0, :, 0], atol=1 / 255)
    # A linear 128 is much lighter in sRGB: the conversion really happened.
    assert artwork.rgba[0, 2, 0] > 0.7


def test_embedded_profile_keeps_alpha():
    pixels = np.zeros((2, 2, 4), np.uint8)
    pixels[..., :3] = 128
    pixels[..., 3] = [[0, 77], [200, 255]]
    data = encode(Image.fromarray(pixels, "RGBA"), "PNG", icc_profile=linear_srgb_profile())
    rgba = load_artwork(data).rgba
    np.testing.assert_allclose(rgba[..., 3] * 255, [[0, 77], [200, 255]], atol=1e-3)
    np.testing.assert_allclose(rgba[1, 1, 0], srgb_encode(128 / 255), atol=2 / 255)


def test_srgb_tagged_artwork_is_unchanged():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = np.random.default_rng(3).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    rgba = load_artwork(encode(Image.fromarray(pixels), "PNG", icc_profile=srgb)).rgba
    np.testing.assert_allclose(rgba[..., :3] * 255, pixels, atol=1.01)


def test_broken_profile_is_a_clear_error():
    data = encode(Image.new("RGB", (2, 2)), "PNG", icc_profile=b"not a profile at all")
    with pytest.raises(InvalidArtwork, match="ICC profile"):
        load_artwork(data)


# --- limits and bad data -----------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with one row's worth of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(bytes(5)))
            + _chunk(b"IEND", b""))


def test_bomb_is_refused_from_its_header():
    # 50000 x 40000 claimed in 70 bytes: there are almost no pixels to decode
    # (decoding would fail as truncated), so the error comes from the header check.
    with pytest.raises(InvalidArtwork, match="limit"):
        load_artwork(png_header_only(50_000, 40_000))


def test_own_pixel_limit_is_checked_before_decoding():
    with pytest.raises(InvalidArtwork, match=r"3000x2000 is 6000000 pixels, more than the limit of 5000000"):
        load_artwork(png_header_only(3000, 2000), max_pixels=5_000_000)


def test_truncated_data_is_a_clear_error():
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)), "PNG")
    with pytest.raises(InvalidArtwork, match="truncated or corrupt"):
        load_artwork(data[: len(data) // 2])
    jpeg = encode(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG")
    with pytest.raises(InvalidArtwork):
        load_artwork(jpeg[:200])


@pytest.mark.parametrize("data", [b"", b"hello, world", None])
def test_not_an_image(data):
    with pytest.raises(InvalidArtwork, match="artwork"):
        load_artwork(data)


def test_other_formats_are_refused():
    with pytest.raises(InvalidArtwork, match="not a PNG, JPEG, WebP or GIF"):
        load_artwork(encode(Image.new("RGB", (4, 4)), "BMP"))


@pytest.mark.parametrize("target", [(0, 10), (10,), "big", (-1, -1)])
def test_bad_target_size_names_the_field(target):
    with pytest.raises(InvalidOption, match="target_size"):
        load_artwork(encode(Image.new("RGB", (4, 4)), "PNG"), target_size=target)


# --- shrink on load ----------------------------------------------------------------------------


def big_jpeg(width: int = 5000, height: int = 4000) -> bytes:
    """A smooth 20-megapixel JPEG (smooth: quick to encode in a test)."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[..., 0] = x
    pixels[..., 1] = y
    pixels[..., 2] = 128
    return encode(Image.fromarray(pixels), "JPEG", quality=85)


def test_20_megapixel_jpeg_decodes_reduced_by_dct_scaling():
    data = big_jpeg()
    artwork = load_artwork(data, target_size=(600, 450))
    # 1/8 of 5000 x 4000 is 625 x 500: the largest DCT scaling that keeps >= the target.
    assert artwork.size == (625, 500)
    assert artwork.reduced_by == 8 and artwork.original_size == (5000, 4000)
    # The reduced decode shows the same picture: the left-right ramp in red.
    assert artwork.rgba[250, 5, 0] < 0.05 and artwork.rgba[250, -5, 0] > 0.95

    # A target needing half the pixels: 1/2 scale (1/4 would be 1250 wide, too small).
    half = load_artwork(data, target_size=(1300, 1000))
    assert half.size == (2500, 2000)
    assert half.size[0] >= 1300 and half.size[1] >= 1000


def test_reduced_decode_respects_the_orientation():
    # Stored 30 x 20 on its side (orientation 6), upright 20 x 30: a target of
    # (10, 15) upright is (15, 10) stored, so a factor of 2 fits.
    artwork = load_artwork(marked_jpeg(6), target_size=(10, 15))
    assert artwork.size == (10, 15)
    assert artwork.rgba[1:4, 6:9, 0].mean() > 0.9  # the marker, top right, still there


def test_png_is_box_reduced_never_below_the_target():
    pixels = np.zeros((300, 400, 3), np.uint8)
    pixels[:, ::2] = 255  # one-pixel columns alternating white and black
    artwork = load_artwork(encode(Image.fromarray(pixels), "PNG"), target_size=(100, 100))
    assert artwork.reduced_by == 3 and artwork.size == (134, 100)
    # each 3 x 3 box holds 2 white columns of 3, or 1 of 3, alternately
    np.testing.assert_allclose(artwork.rgba[50, :4, 0], [2 / 3, 1 / 3, 2 / 3, 1 / 3], atol=1 / 255)


def test_reduce_averages_premultiplied_so_edges_do_not_fringe():
    pixels = np.zeros((2, 20, 4), np.uint8)
    pixels[:, ::2] = (255, 0, 0, 255)  # opaque red
    pixels[:, 1::2] = (0, 0, 255, 0)  # transparent, but blue underneath
    rgba = load_artwork(encode(Image.fromarray(pixels, "RGBA"), "PNG"), target_size=(10, 1)).rgba
    assert rgba.shape[:2] == (1, 10)
    np.testing.assert_allclose(rgba[0, 3], [1, 0, 0, 0.5], atol=1 / 255)  # red, half covered: no blue


def test_small_artwork_is_not_reduced():
    artwork = load_artwork(encode(Image.new("RGB", (300, 200)), "PNG"), target_size=(200, 150))
    assert artwork.size == (300, 200) and artwork.reduced_by == 1


# --- cache ---------------------------------------------------------------------------------


def test_each_artwork_is_decoded_once_and_shared_read_only():
    data = encode(Image.new("RGB", (40, 30), (1, 2, 3)), "PNG")
    first = load_artwork(data, target_size=(10, 10))
    assert load_artwork(data, target_size=(10, 10)) is first
    assert load_artwork(data) is not first  # another target is another decode
    assert load_artwork(bytearray(data), target_size=(10, 10)) is first  # keyed by the bytes' content
    with pytest.raises(ValueError):
        first.rgba[0, 0, 0] = 1


def test_cache_is_bounded_by_bytes():
    cache = _ArtworkCache(max_bytes=3 * 10 * 10 * 16)

    def artwork(n):
        return Artwork(np.full((10, 10, 4), n, np.float32), "PNG", (10, 10), 1, None)

    for n in range(4):
        cache.put(n, artwork(n))
    assert cache.get(0) is None  # the oldest went
    assert cache.get(1) is not None and cache.total_bytes == 3 * 1600
    cache.put(4, artwork(4))  # 1 was just used: 2 goes
    assert cache.get(2) is None and cache.get(1) is not None
    cache.put(5, Artwork(np.zeros((100, 100, 4), np.float32), "PNG", (100, 100), 1, None))
    assert cache.get(5) is None  # larger than the whole cache: not kept
