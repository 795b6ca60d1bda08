"""The fixture writer and the demo template, checked by reading the files back with psd-tools.

psd-tools is an independent reader here: layer records, channels, masks and the
smart-object blocks are right when it reads them back as written, and its own
compositing of the layers agrees with the merged image we wrote.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from psd_tools import PSDImage
from psd_tools.constants import BlendMode, Tag

from compositor.fixtures import demo
from compositor.fixtures.cli import commands
from compositor.fixtures.psd_writer import (
    Document,
    Group,
    LayerMask,
    PixelLayer,
    SmartObjectLayer,
    composite_document,
    content_to_canvas,
    write_psd,
)

RED, GREEN, BLUE, YELLOW = (230, 20, 20), (20, 200, 40), (30, 40, 220), (240, 220, 30)


def png_bytes(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()


def quadrants(width: int, height: int) -> np.ndarray:
    """Content with four flat, distinct quadrants: TL red, TR green, BR blue, BL yellow."""
    pixels = np.zeros((height, width, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    hw, hh = width // 2, height // 2
    pixels[:hh, :hw, :3] = RED
    pixels[:hh, hw:, :3] = GREEN
    pixels[hh:, hw:, :3] = BLUE
    pixels[hh:, :hw, :3] = YELLOW
    return pixels


def solid(height: int, width: int, rgb, alpha: int = 255) -> np.ndarray:
    pixels = np.empty((height, width, 4), dtype=np.uint8)
    pixels[..., :3] = rgb
    pixels[..., 3] = alpha
    return pixels


def homography_by_hand(source, target) -> np.ndarray:
    """The projective map of four points onto four others, from the 8x8 linear system."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(source, target):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.array(rows, dtype=float), np.array(rhs, dtype=float))
    return np.append(h, 1).reshape(3, 3)


def project(matrix: np.ndarray, x: float, y: float) -> tuple[float, float]:
    u, v, w = matrix @ (x, y, 1)
    return u / w, v / w


def open_psd(data: bytes) -> PSDImage:
    return PSDImage.open(io.BytesIO(data))


def smart_object_descriptor(layer):
    return layer.tagged_blocks.get_data(Tag.SMART_OBJECT_LAYER_DATA1).data


def doubles(values) -> list[float]:
    return [float(v) for v in values]


# A perspective quad (TL, TR, BR, BL): the right edge is shorter than the left.
QUAD = ((60.0, 40.0), (240.0, 55.0), (245.0, 160.0), (50.0, 175.0))


def sample_document(psb: bool = False) -> tuple[Document, bytes]:
    """Every feature of the writer in one small document."""
    content = png_bytes(quadrants(200, 120))
    shading = np.zeros((200, 300, 4), dtype=np.uint8)
    shading[..., :3] = np.linspace(90, 250, 300, dtype=np.uint8)[None, :, None]
    shading[..., 3] = 255
    mask_pixels = np.zeros((50, 60), dtype=np.uint8)
    mask_pixels[:, :30] = 255
    document = Document(
        width=300,
        height=200,
        psb=psb,
        layers=[
            PixelLayer("Background", solid(200, 300, (200, 180, 150))),
            SmartObjectLayer("Design", content, quad=QUAD, resolution=150.0,
                             unique_id="0b7f2f43-31d4-4c1e-9a57-2d2f7a3c9e10"),
            PixelLayer("Shading", shading, blend_mode="multiply", opacity=200, clipped=True),
            PixelLayer("Glare \u2014 screen", solid(60, 80, (255, 255, 255), alpha=150), left=100, top=50,
                       blend_mode="screen", fill_opacity=180,
                       mask=LayerMask(mask_pixels, left=110, top=60, default_color=255)),
            PixelLayer("Hidden", solid(20, 20, (0, 0, 0)), left=5, top=5, visible=False),
        ],
    )
    return document, content


# ---------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------

def test_layer_records_read_back_as_written():
    document, _ = sample_document()
    psd = open_psd(write_psd(document))

    assert psd.size == (300, 200)
    assert [layer.name for layer in psd] == ["Background", "Design", "Shading", "Glare \u2014 screen", "Hidden"]
    assert [layer.kind for layer in psd] == ["pixel", "smartobject", "pixel", "pixel", "pixel"]
    assert [layer.blend_mode for layer in psd] == [
        BlendMode.NORMAL, BlendMode.NORMAL, BlendMode.MULTIPLY, BlendMode.SCREEN, BlendMode.NORMAL
    ]
    assert [layer.opacity for layer in psd] == [255, 255, 200, 255, 255]
    assert [layer.clipping for layer in psd] == [False, False, True, False, False]
    assert [layer.visible for layer in psd] == [True, True, True, True, False]
    assert psd[3].tagged_blocks.get_data(Tag.BLEND_FILL_OPACITY) == 180
    assert psd[3].bbox == (100, 50, 180, 110)
    # The clipped layer is attached to its base by the reader.
    assert [layer.name for layer in psd[1].clip_layers] == ["Shading"]


def test_pixels_and_mask_read_back_as_written():
    document, _ = sample_document()
    psd = open_psd(write_psd(document))
    glare = psd[3]
    assert glare.has_mask()
    assert glare.mask.bbox == (110, 60, 170, 110)
    assert glare.mask.background_color == 255
    mask = np.asarray(glare.mask.topil())
    np.testing.assert_array_equal(mask, document.layers[3].mask.pixels)
    pixels = np.asarray(glare.topil().convert("RGBA"))
    np.testing.assert_array_equal(pixels, document.layers[3].pixels)


def test_psb_reads_back():
    document, content = sample_document(psb=True)
    psd = open_psd(write_psd(document))
    assert psd.version == 2
    assert [layer.name for layer in psd][:2] == ["Background", "Design"]
    assert psd[1].smart_object.data == content


# ---------------------------------------------------------------------------------------
# Smart objects
# ---------------------------------------------------------------------------------------

def test_smart_object_descriptor_reads_back():
    document, content = sample_document()
    psd = open_psd(write_psd(document))
    design = psd[1]
    descriptor = smart_object_descriptor(design)

    assert doubles(descriptor[b"nonAffineTransform"]) == doubles(np.ravel(QUAD))
    # Trnf defaults to the bounding rectangle of the quad, as Photoshop stores it.
    assert doubles(descriptor[b"Trnf"]) == [50, 40, 245, 40, 245, 175, 50, 175]
    assert descriptor[b"Sz  "][b"Wdth"] == 200 and descriptor[b"Sz  "][b"Hght"] == 120
    assert descriptor[b"Rslt"].value == 150.0
    assert descriptor[b"warp"][b"warpStyle"].enum == b"warpNone"
    assert descriptor[b"Idnt"].value.strip("\x00") == "0b7f2f43-31d4-4c1e-9a57-2d2f7a3c9e10"

    smart_object = design.smart_object
    assert smart_object.unique_id == "0b7f2f43-31d4-4c1e-9a57-2d2f7a3c9e10"
    assert smart_object.kind == "data"
    assert smart_object.filetype == "png"
    assert smart_object.data == content
    assert smart_object.filename == "Design.png"
    assert smart_object.resolution == 150.0
    # The legacy placed-layer block carries the same corners.
    assert doubles(design.tagged_blocks.get_data(Tag.PLACED_LAYER2).transform) == doubles(np.ravel(QUAD))


def test_each_smart_object_links_to_its_own_embedded_file():
    first, second = png_bytes(quadrants(40, 40)), png_bytes(solid(30, 50, (10, 20, 30)))
    document = Document(120, 120, [
        PixelLayer("Background", solid(120, 120, (255, 255, 255))),
        SmartObjectLayer("A", first, quad=((10, 10), (50, 10), (50, 50), (10, 50))),
        SmartObjectLayer("B", second, quad=((60, 60), (110, 60), (110, 90), (60, 90))),
    ])
    psd = open_psd(write_psd(document))
    assert psd[1].smart_object.unique_id != psd[2].smart_object.unique_id
    assert psd[1].smart_object.data == first
    assert psd[2].smart_object.data == second


def test_duplicated_smart_objects_share_one_embedded_file():
    content = png_bytes(quadrants(40, 40))
    shared_id = "5d0c1b7e-8a3f-4e0a-9d8c-2f4b6a1e3c55"
    document = Document(120, 120, [
        PixelLayer("Background", solid(120, 120, (255, 255, 255))),
        SmartObjectLayer("Front", content, quad=((10, 10), (50, 10), (50, 50), (10, 50)), unique_id=shared_id),
        SmartObjectLayer("Back", content, quad=((60, 60), (110, 65), (105, 100), (62, 95)), unique_id=shared_id),
    ])
    psd = open_psd(write_psd(document))
    links = psd._record.layer_and_mask_information.tagged_blocks.get_data(Tag.LINKED_LAYER2)
    assert [link.uuid for link in links] == [shared_id]
    assert psd[1].smart_object.data == psd[2].smart_object.data == content
    placed = [smart_object_descriptor(layer)[b"placed"].value for layer in (psd[1], psd[2])]
    assert placed[0] != placed[1]

    document.layers[2].content = png_bytes(solid(40, 40, (0, 0, 0)))
    with pytest.raises(ValueError, match="shares unique_id"):
        write_psd(document)


def test_warp_mesh_reads_back():
    content = png_bytes(quadrants(150, 100))
    grid = np.linspace(0, 1, 4)
    mesh = np.stack(np.meshgrid(grid * 150, grid * 100), axis=-1)
    mesh[1:3, 1:3, 1] += 25  # pull the middle down
    document = Document(300, 200, [
        PixelLayer("Background", solid(200, 300, (255, 255, 255))),
        SmartObjectLayer("Warped", content, quad=QUAD, warp_mesh=mesh),
    ])
    psd = open_psd(write_psd(document))
    warp = smart_object_descriptor(psd[1])[b"warp"]
    assert warp[b"warpStyle"].enum == b"warpCustom"
    points = warp[b"customEnvelopeWarp"][b"meshPoints"]
    assert list(points[b"Hrzn"].values) == pytest.approx(mesh[..., 0].ravel())
    assert list(points[b"Vrtc"].values) == pytest.approx(mesh[..., 1].ravel())
    # The mesh bends the picture: the middle of the content lands lower than without it.
    flat = composite_document(Document(300, 200, [document.layers[0], SmartObjectLayer("Flat", content, quad=QUAD)]))
    bent = np.asarray(psd.topil().convert("RGBA"))
    column = 110  # in the content's left half: red above, yellow below

    def first_yellow_row(image):
        yellow = (image[:, column, 0] > 200) & (image[:, column, 1] > 150) & (image[:, column, 2] < 100)
        return int(np.argmax(yellow)) if yellow.any() else None

    assert first_yellow_row(flat) is not None and first_yellow_row(bent) is not None
    assert first_yellow_row(bent) > first_yellow_row(flat) + 5


def test_cached_pixels_land_where_the_quad_says():
    width, height = 200, 120
    document = Document(300, 200, [
        PixelLayer("Background", solid(200, 300, (255, 255, 255))),
        SmartObjectLayer("Design", png_bytes(quadrants(width, height)), quad=QUAD),
    ])
    psd = open_psd(write_psd(document))
    layer = psd[1]
    pixels = np.asarray(layer.topil().convert("RGBA"))
    left, top = layer.left, layer.top
    to_canvas = homography_by_hand([(0, 0), (width, 0), (width, height), (0, height)], QUAD)

    def at(content_x, content_y):
        x, y = project(to_canvas, content_x, content_y)
        return pixels[int(np.floor(y)) - top, int(np.floor(x)) - left]

    # Near each corner of the content (5 px in) and in the middle of each quadrant.
    inset = 5
    expectations = [
        ((inset, inset), RED), ((width - inset, inset), GREEN),
        ((width - inset, height - inset), BLUE), ((inset, height - inset), YELLOW),
        ((width / 4, height / 4), RED), ((3 * width / 4, height / 4), GREEN),
        ((3 * width / 4, 3 * height / 4), BLUE), ((width / 4, 3 * height / 4), YELLOW),
    ]
    for (cx, cy), colour in expectations:
        pixel = at(cx, cy)
        assert pixel[3] == 255, (cx, cy)
        assert np.abs(pixel[:3].astype(int) - colour).max() <= 2, ((cx, cy), pixel, colour)

    # The layer's box is the quad's bounding box, give or take the antialiased edge
    # (a ramp one content pixel wide), and just outside the corners nothing is drawn.
    quad = np.array(QUAD)
    assert np.floor(quad[:, 0].min()) - 1 <= left <= quad[:, 0].min()
    assert np.floor(quad[:, 1].min()) - 1 <= top <= quad[:, 1].min()
    assert quad[:, 0].max() <= layer.right <= np.ceil(quad[:, 0].max()) + 1
    assert quad[:, 1].max() <= layer.bottom <= np.ceil(quad[:, 1].max()) + 1
    for (cx, cy) in [(-3, -3), (width + 3, -3), (width + 3, height + 3), (-3, height + 3)]:
        x, y = project(to_canvas, cx, cy)
        column, row = int(np.floor(x)) - left, int(np.floor(y)) - top
        if 0 <= row < pixels.shape[0] and 0 <= column < pixels.shape[1]:
            assert pixels[row, column, 3] == 0, (cx, cy)


def bilinear(image: np.ndarray, x: float, y: float) -> np.ndarray:
    """The image sampled at (x, y) in pixel-index coordinates (pixel i's centre at i)."""
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - x0, y - y0
    top = (1 - fx) * image[y0, x0].astype(float) + fx * image[y0, x0 + 1]
    bottom = (1 - fx) * image[y0 + 1, x0].astype(float) + fx * image[y0 + 1, x0 + 1]
    return (1 - fy) * top + fy * bottom


PARALLELOGRAM = ((20.0, 10.0), (220.0, 30.0), (240.0, 150.0), (40.0, 130.0))


@pytest.mark.parametrize("quad, through_mesh", [(QUAD, False), (PARALLELOGRAM, True)],
                         ids=["perspective", "mesh"])
def test_cached_pixels_sample_the_content_at_the_right_place(quad, through_mesh):
    # Every edge of the quad is longer than the content's side, so no reduction happens
    # and each canvas pixel is the content sampled bilinearly where its centre maps to.
    # An untouched warp mesh on a parallelogram must give the same affine placement.
    width, height = 160, 100
    content = quadrants(width, height)
    mesh = None
    if through_mesh:
        grid = np.linspace(0, 1, 4)
        mesh = np.stack(np.meshgrid(grid * width, grid * height), axis=-1)
    transform = quad if through_mesh else None  # Trnf is a parallelogram
    layer = SmartObjectLayer("Design", png_bytes(content), quad=quad, warp_mesh=mesh, transform=transform)
    layer = open_psd(write_psd(Document(300, 200, [layer])))[0]
    pixels = np.asarray(layer.topil().convert("RGBA")).astype(float)
    to_content = homography_by_hand(quad, [(0, 0), (width, 0), (width, height), (0, height)])
    checked = 0
    for row in range(layer.top, layer.bottom, 3):
        for column in range(layer.left, layer.right, 3):
            cx, cy = project(to_content, column + 0.5, row + 0.5)
            if not (1.5 < cx < width - 1.5 and 1.5 < cy < height - 1.5):
                continue
            expected = bilinear(content, cx - 0.5, cy - 0.5)
            actual = pixels[row - layer.top, column - layer.left]
            assert np.abs(actual - expected).max() <= 3, ((column, row), actual, expected)
            checked += 1
    assert checked > 1000


def test_content_to_canvas_is_the_placement():
    document, _ = sample_document()
    design = document.layers[1]
    by_hand = homography_by_hand([(0, 0), (200, 0), (200, 120), (0, 120)], QUAD)
    points = [(0, 0), (200, 120), (37.5, 90.25)]
    expected = [project(by_hand, x, y) for x, y in points]
    assert content_to_canvas(design, points) == pytest.approx(np.array(expected), abs=1e-6)

    # Through a warp mesh: an untouched mesh on a parallelogram is the affine placement.
    parallelogram = ((20, 10), (220, 30), (240, 150), (40, 130))
    grid = np.linspace(0, 1, 4)
    mesh = np.stack(np.meshgrid(grid * 200, grid * 120), axis=-1)
    warped = SmartObjectLayer("W", design.content, quad=parallelogram, warp_mesh=mesh,
                              transform=parallelogram)
    affine = homography_by_hand([(0, 0), (200, 0), (200, 120), (0, 120)], parallelogram)
    expected = [project(affine, x, y) for x, y in points]
    assert content_to_canvas(warped, points) == pytest.approx(np.array(expected), abs=1e-6)


def test_nested_psd_content():
    inner = write_psd(Document(80, 60, [PixelLayer("Art", quadrants(80, 60))]))
    document = Document(200, 200, [
        PixelLayer("Background", solid(200, 200, (255, 255, 255))),
        SmartObjectLayer("Nested", inner, quad=((20, 20), (180, 30), (170, 170), (30, 160))),
    ])
    psd = open_psd(write_psd(document))
    smart_object = psd[1].smart_object
    assert smart_object.filetype == "8bps"
    assert smart_object.data == inner
    nested = open_psd(smart_object.data)
    assert nested.size == (80, 60)
    # The nested document's merged image is what was drawn: its top-left quadrant is red.
    assert np.abs(np.asarray(psd.topil())[40, 50, :3].astype(int) - RED).max() <= 2


# ---------------------------------------------------------------------------------------
# The merged image
# ---------------------------------------------------------------------------------------

def test_merged_image_is_ours_and_psd_tools_agrees():
    document, _ = sample_document()
    data = write_psd(document)
    psd = open_psd(data)
    ours = composite_document(document)
    np.testing.assert_array_equal(np.asarray(psd.topil().convert("RGBA")), ours)

    theirs = np.asarray(psd.composite(ignore_preview=True).convert("RGBA")).astype(int)
    difference = np.abs(theirs - ours)
    assert difference.max() <= 2
    assert difference.mean() < 0.2
    # Not vacuous: the layers above the background changed the picture.
    assert np.abs(ours[:, :, :3].astype(int) - (200, 180, 150)).max() > 100


@pytest.mark.parametrize("build", [
    lambda: write_psd(sample_document()[0]),
    lambda: write_psd(sample_document(psb=True)[0]),
    lambda: demo.build_demo_template(size=200),
], ids=["psd", "psb", "demo"])
def test_every_length_and_padding_is_consistent(build):
    """Parsed into psd-tools' structures and written back, the file is byte-identical:
    no length field, padding or count disagrees with what it describes."""
    from psd_tools.psd import PSD

    data = build()
    again = io.BytesIO()
    PSD.read(io.BytesIO(data)).write(again)
    assert again.getvalue() == data


def test_pillow_reads_the_same_file():
    """A second, independent parser: Pillow's PSD reader walks the same records."""
    document, _ = sample_document()
    data = write_psd(document)
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == ("PSD", (300, 200))
        np.testing.assert_array_equal(np.asarray(image.convert("RGBA")), composite_document(document))
        # Pillow lists only layers of at most four channels: the masked glare is left out.
        assert [(name, box) for name, _, box, *_ in image.layers] == [
            ("Background", (0, 0, 300, 200)),
            ("Design", tuple(open_psd(data)[1].bbox)),
            ("Shading", (0, 0, 300, 200)),
            ("Hidden", (5, 5, 25, 25)),
        ]


def test_transparent_merged_image_reads_back():
    document = Document(50, 40, [PixelLayer("Half", solid(20, 30, (40, 90, 200), alpha=128), left=10, top=10)])
    psd = open_psd(write_psd(document))
    merged = np.asarray(psd.topil().convert("RGBA")).astype(int)
    assert merged[0, 0, 3] == 0
    assert merged[15, 15, 3] == 128
    assert np.abs(merged[15, 15, :3] - (40, 90, 200)).max() <= 2


def test_hidden_layers_and_masks_change_the_merged_image():
    document, _ = sample_document()
    merged = composite_document(document)
    # The hidden black square is not drawn.
    assert merged[10, 10, :3].tolist() == [200, 180, 150]
    # The glare is masked off at (150, 80) (mask column 40 is 0) and shown at (120, 80).
    base = composite_document(Document(300, 200, document.layers[:3]))
    assert merged[80, 150].tolist() == base[80, 150].tolist()
    assert merged[80, 120, 0] > base[80, 120, 0]


def test_groups_read_back_and_composite_like_psd_tools():
    half = np.zeros((40, 40), dtype=np.uint8)
    half[:, :20] = 255
    document = Document(120, 100, [
        PixelLayer("Background", solid(100, 120, (200, 180, 150))),
        Group("Pass", [
            PixelLayer("A", solid(30, 30, (255, 0, 0)), 10, 10),
            PixelLayer("B", solid(30, 30, (0, 0, 255)), 20, 20, blend_mode="multiply"),
        ]),
        Group("Isolated", [
            PixelLayer("C", solid(40, 40, (0, 255, 0), alpha=180), 60, 40),
            PixelLayer("D", solid(20, 50, (255, 255, 255)), 50, 50, blend_mode="screen", clipped=True),
        ], blend_mode="multiply", opacity=200, mask=LayerMask(half, 60, 40, 0)),
        Group("Hidden", [PixelLayer("E", solid(10, 10, (0, 0, 0)))], visible=False, closed=True),
    ])
    psd = open_psd(write_psd(document))
    assert [(layer.name, layer.kind) for layer in psd] == [
        ("Background", "pixel"), ("Pass", "group"), ("Isolated", "group"), ("Hidden", "group")
    ]
    assert [layer.name for layer in psd[1]] == ["A", "B"]
    assert [layer.name for layer in psd[2]] == ["C", "D"]
    assert psd[1].blend_mode == BlendMode.PASS_THROUGH
    assert (psd[2].blend_mode, psd[2].opacity) == (BlendMode.MULTIPLY, 200)
    assert psd[2].has_mask() and psd[2].mask.bbox == (60, 40, 100, 80)
    assert psd[2][1].clipping and not psd[3].visible

    ours = composite_document(document)
    theirs = np.asarray(psd.composite(ignore_preview=True).convert("RGBA")).astype(int)
    assert np.abs(theirs - ours).max() <= 2
    # The hidden group's black square is not drawn; the isolated group's mask hides its right half.
    assert ours[5, 5, :3].tolist() == [200, 180, 150]
    assert ours[45, 90, :3].tolist() == [200, 180, 150]
    assert ours[45, 70, 0] < 150


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, message", [
    (PixelLayer("X", solid(4, 4, (0, 0, 0)), blend_mode="overlay"), "blend mode 'overlay'"),
    (PixelLayer("X", np.zeros((4, 4, 3), np.uint8)), "(h, w, 4) uint8"),
    (PixelLayer("X", solid(4, 4, (0, 0, 0)), opacity=300), "opacity"),
    (PixelLayer("X", solid(4, 4, (0, 0, 0)), mask=LayerMask(np.zeros((2, 2), np.uint8), default_color=7)), "default_color"),
    (SmartObjectLayer("S", b"GIF89a....", quad=((0, 0), (9, 0), (9, 9), (0, 9))), "PNG or a PSD/PSB"),
    (SmartObjectLayer("S", png_bytes(solid(4, 4, (0, 0, 0))), quad=((0, 0), (9, 9), (9, 0), (0, 9))), "convex"),
    (SmartObjectLayer("S", png_bytes(solid(4, 4, (0, 0, 0))), quad=((0, 0), (9, 0))), "four finite"),
    (SmartObjectLayer("S", png_bytes(solid(4, 4, (0, 0, 0))), quad=QUAD, transform=QUAD), "parallelogram"),
])
def test_bad_layers_are_rejected_with_a_clear_error(layer, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_psd(Document(10, 10, [layer]))


def test_a_clipped_bottom_layer_is_rejected():
    with pytest.raises(ValueError, match="clipped but has no layer below"):
        write_psd(Document(10, 10, [PixelLayer("X", solid(4, 4, (0, 0, 0)), clipped=True)]))


def test_unsupported_groups_are_rejected():
    inside = [PixelLayer("X", solid(4, 4, (0, 0, 0)))]
    with pytest.raises(ValueError, match="pass-through group needs full opacity"):
        write_psd(Document(10, 10, [Group("G", inside, opacity=100)]))
    with pytest.raises(ValueError, match="clipped to the group"):
        write_psd(Document(10, 10, [Group("G", inside), PixelLayer("Y", solid(4, 4, (0, 0, 0)), clipped=True)]))


def test_an_empty_document_is_rejected():
    with pytest.raises(ValueError, match="at least one layer"):
        write_psd(Document(10, 10, []))


# ---------------------------------------------------------------------------------------
# The demo template
# ---------------------------------------------------------------------------------------

def test_demo_template_structure():
    size = 400
    psd = open_psd(demo.build_demo_template(size=size, seed=3))
    assert psd.size == (size, size)
    assert [(layer.name, layer.kind, layer.blend_mode, layer.clipping) for layer in psd] == [
        ("Background", "pixel", BlendMode.NORMAL, False),
        ("Design", "smartobject", BlendMode.NORMAL, False),
        ("Paper shading", "pixel", BlendMode.MULTIPLY, True),
        ("Glass glare", "pixel", BlendMode.SCREEN, False),
        ("Frame shadow", "pixel", BlendMode.NORMAL, False),
    ]
    glare = psd[3]
    assert glare.has_mask() and glare.mask.background_color == 0
    assert glare.mask.bbox != glare.bbox  # the mask has a box of its own

    design = psd[1]
    descriptor = smart_object_descriptor(design)
    quad = demo.print_area_quad(size)
    assert doubles(descriptor[b"nonAffineTransform"]) == pytest.approx(quad.ravel())
    content = design.smart_object.data
    assert design.smart_object.filetype == "png"
    with Image.open(io.BytesIO(content)) as image:
        assert image.size == (round(demo.CONTENT_SIZE[0] * size), round(demo.CONTENT_SIZE[1] * size))
        assert (descriptor[b"Sz  "][b"Wdth"], descriptor[b"Sz  "][b"Hght"]) == image.size
    # The quad is a real perspective: the left edge is longer than the right.
    assert (quad[3, 1] - quad[0, 1]) > (quad[2, 1] - quad[1, 1]) + 0.05 * size


def test_demo_composite_agrees_with_psd_tools():
    psd = open_psd(demo.build_demo_template(size=300, seed=1))
    ours = np.asarray(psd.topil().convert("RGB")).astype(int)
    theirs = np.asarray(psd.composite(ignore_preview=True).convert("RGB")).astype(int)
    difference = np.abs(theirs - ours)
    assert difference.max() <= 2
    assert difference.mean() < 0.2


def test_small_demo_is_fast_and_deterministic():
    start = time.perf_counter()
    first = demo.build_demo_template(size=400, seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"a 400-px demo took {elapsed:.2f} s"
    assert demo.build_demo_template(size=400, seed=0) == first
    assert demo.build_demo_template(size=400, seed=1) != first


def test_ensure_demo_template_builds_once(tmp_path: Path):
    path = demo.ensure_demo_template(tmp_path / "state", size=128, seed=4)
    assert path.read_bytes() == demo.build_demo_template(size=128, seed=4)
    path.write_bytes(b"kept")  # a second call must reuse the file, not rebuild it
    assert demo.ensure_demo_template(tmp_path / "state", size=128, seed=4) == path
    assert path.read_bytes() == b"kept"
    other = demo.ensure_demo_template(tmp_path / "state", size=128, seed=5)
    assert other != path and other.read_bytes()[:4] == b"8BPS"
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == sorted([path.name, other.name])


def test_demo_rejects_bad_sizes():
    with pytest.raises(ValueError, match="size must be an integer"):
        demo.build_demo_template(size=10)
    with pytest.raises(ValueError, match="size must be an integer"):
        demo.build_demo_artwork(size=2.5)


def test_demo_artwork_is_a_portrait_png():
    data = demo.build_demo_artwork(size=400, seed=2)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (300, 400)
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 20  # a design, not a flat fill
    assert demo.build_demo_artwork(size=400, seed=2) == data


def test_demo_artwork_takes_a_width():
    with Image.open(io.BytesIO(demo.build_demo_artwork(size=300, width=300))) as image:
        assert image.size == (300, 300)
    with pytest.raises(ValueError, match="width must be an integer"):
        demo.build_demo_artwork(size=300, width=5)


@pytest.mark.skipif(not os.environ.get("MOCKFARM_FULL_SIZE_DEMO"),
                    reason="builds the 4000-px demo (~10 s, 1.5 GB); set MOCKFARM_FULL_SIZE_DEMO=1")
def test_full_size_demo_builds_in_reasonable_time():
    start = time.perf_counter()
    data = demo.build_demo_template(size=4000)
    elapsed = time.perf_counter() - start
    assert elapsed < 20, f"the 4000-px demo took {elapsed:.1f} s"
    psd = open_psd(data)
    assert psd.size == (4000, 4000)
    assert psd[1].kind == "smartobject"


def test_cli_writes_the_demo_files(tmp_path: Path):
    by_name = {command.name: command for command in commands}
    runner = CliRunner()
    result = runner.invoke(by_name["demo-template"], ["-o", str(tmp_path / "demo.psd"), "--size", "128"])
    assert result.exit_code == 0, result.output
    assert open_psd((tmp_path / "demo.psd").read_bytes())[1].name == "Design"
    result = runner.invoke(by_name["demo-artwork"], ["-o", str(tmp_path / "art.png"), "--size", "100"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "art.png") as image:
        assert image.size == (75, 100)
    result = runner.invoke(by_name["demo-template"], ["-o", str(tmp_path / "x.psd"), "--size", "8"])
    assert result.exit_code != 0 and "--size" in result.output


# ---------------------------------------------------------------------------------------
# Against Photoshop's own layout (needs the corpus)
# ---------------------------------------------------------------------------------------

CORPUS = Path(os.environ.get("MOCKFARM_CORPUS", Path(__file__).resolve().parents[2].parent / "shared" / "corpus"))
PHOTOSHOP_SMART_OBJECT = CORPUS / "aspose-psd+Aspose.PSD-for-Python-Net/Examples/testdata/PSDNET-2565/iphone15snapcase(1).psd"


@pytest.mark.corpus
@pytest.mark.skipif(not PHOTOSHOP_SMART_OBJECT.exists(), reason="corpus not available")
def test_smart_object_descriptor_has_photoshops_layout():
    photoshop = PSDImage.open(PHOTOSHOP_SMART_OBJECT)
    theirs = next(layer for layer in photoshop.descendants() if layer.kind == "smartobject")
    document, _ = sample_document()
    ours = open_psd(write_psd(document))[1]
    assert list(smart_object_descriptor(ours).keys()) == list(smart_object_descriptor(theirs).keys())
    assert list(smart_object_descriptor(ours)[b"warp"].keys()) == list(smart_object_descriptor(theirs)[b"warp"].keys())
    their_link = theirs.smart_object._data
    our_link = ours.smart_object._data
    assert (our_link.kind, our_link.version) == (their_link.kind, their_link.version)


# ---------------------------------------------------------------------------------------
# The project's own smart-object renderer reads these files
# ---------------------------------------------------------------------------------------

def test_smart_object_renderer_reproduces_the_cached_pixels():
    """Re-warping the embedded content from the written geometry lands on our cached pixels.

    Two independent implementations of the same placement maths (ours renders, the
    renderer inverts) agreeing is what makes these files useful as smart-object inputs.
    """
    from compositor.smartobjects import layer_fidelity

    content = png_bytes(quadrants(150, 100))
    grid = np.linspace(0, 1, 4)
    mesh = np.stack(np.meshgrid(grid * 150, grid * 100), axis=-1)
    mesh[1:3, 1:3, 1] += 25
    mesh[0, 1:3, 1] -= 15
    document = Document(300, 200, [
        PixelLayer("Background", solid(200, 300, (255, 255, 255))),
        SmartObjectLayer("Perspective", content, quad=QUAD),
        SmartObjectLayer("Mesh", content, quad=QUAD, warp_mesh=mesh),
    ])
    rows = layer_fidelity(open_psd(write_psd(document)))
    rows += layer_fidelity(open_psd(demo.build_demo_template(size=400)))
    assert [row["name"] for row in rows] == ["Perspective", "Mesh", "Design"]
    for row in rows:
        assert row["skipped"] is None, row
        assert row["mae"] < 2.0 and row["psnr"] > 32, row
