"""Renders of uploaded templates over HTTP, through the real stack: artwork by base64,
URL or multipart; the pixels downloaded; print files; validation; isolation; SSRF."""
from __future__ import annotations

import base64
import io
import json

import cv2
import numpy as np
import pytest
import requests
from PIL import Image

from compositor.fixtures.demo import build_demo_template, print_area_quad
from compositor.plan import RenderPlan, compile_template
from compositor.placement import PlacementOptions
from compositor.render import ArtworkInput, ExportOptions, render
from tests.integration.helpers import auth, get_task, new_api_key, serve_files, upload_template, wait_for_mockup

pytestmark = pytest.mark.integration

SIZE = 400
RED = (220, 30, 40)
_cache: dict[str, object] = {}


def demo_psd() -> bytes:
    if "psd" not in _cache:
        _cache["psd"] = build_demo_template(SIZE)
    return _cache["psd"]


def solid_png(colour=RED, size=(144, 192)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture()
def mockup(api_url) -> dict:
    """A ready demo mockup of the default test account (uploaded once per database)."""
    from shared.config import load_settings

    key = f"mockup:{load_settings().database_url}"
    if key not in _cache:
        ready = wait_for_mockup(api_url, upload_template(api_url, demo_psd())["uuid"])
        assert ready["status"] == "ready", ready["error"]
        _cache[key] = ready
    return _cache[key]


def start(api_url, body, path="", api_key=None, expect=202, **kwargs) -> dict:
    response = requests.post(f"{api_url}/api/v1/renders{path}", headers=auth(api_key), json=body, timeout=30,
                             **kwargs)
    assert response.status_code == expect, response.text
    return response.json()


def finish(api_url, task_key, api_key=None) -> dict:
    task = get_task(api_url, task_key, api_key, wait=20)
    assert task["status"] in ("completed", "failed"), task
    return task


def download(print_file) -> bytes:
    response = requests.get(print_file["export_path"], timeout=10)
    assert response.status_code == 200
    assert len(response.content) == print_file["bytes"]
    return response.content


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)


def quad_masks(size: int, scale: float = 1.0):
    """(inside, outside): pixels well inside the print area, and well away from it
    (beyond the frame, whose shadow and glare the artwork does not change)."""
    quad = print_area_quad(SIZE) * scale
    centre = quad.mean(axis=0)
    inner = ((quad - centre) * 0.8 + centre).astype(np.int32)
    outer = ((quad - centre) * 1.6 + centre).astype(np.int32)
    inside = np.zeros((size, size), np.uint8)
    cv2.fillPoly(inside, [inner], 1)
    near = np.zeros((size, size), np.uint8)
    cv2.fillPoly(near, [outer], 1)
    return inside.astype(bool), ~near.astype(bool)


def render_body(mockup, asset, **extra) -> dict:
    body = {"mockup_uuid": mockup["uuid"],
            "smart_objects": [{"uuid": mockup["smart_objects"][0]["uuid"], "asset": asset}],
            "export_options": {"image_format": "png"}}
    body.update(extra)
    return body


def test_render_with_base64_artwork_puts_it_in_the_print_area_only(api_url, mockup):
    artwork = solid_png()
    accepted = start(api_url, render_body(mockup, {"base64": b64(artwork), "content_type": "image/png"},
                                          export_label="red poster"))
    assert accepted["success"] is True and accepted["data"]["status"] == "pending"
    task = finish(api_url, accepted["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    [print_file] = task["print_files"]
    assert (print_file["width"], print_file["height"], print_file["format"]) == (SIZE, SIZE, "png")
    image = pixels(download(print_file))

    # The template as it is: a render that gives no smart object keeps its content.
    untouched = finish(api_url, start(api_url, {"mockup_uuid": mockup["uuid"],
                                                "export_options": {"image_format": "png"}})["data"]["task_key"])
    base = pixels(download(untouched["print_files"][0]))

    inside, outside = quad_masks(SIZE)
    red = image[inside].mean(axis=0)
    assert red[0] > 150 and red[1] < 80 and red[2] < 80, red
    assert np.abs(base[inside].mean(axis=0) - red).max() > 60  # it was not red before
    assert np.array_equal(image[outside], base[outside])

    # Exactly what the compositor makes here of the same template and artwork, from
    # the plan as stored (coefficients are kept as float16).
    plan = RenderPlan.from_bytes(compile_template(demo_psd()).to_bytes())
    expected = render(plan, {"Design": ArtworkInput(artwork, PlacementOptions())}, ExportOptions(format="png"))
    assert np.array_equal(image, pixels(expected))


def test_render_with_artwork_by_url_as_a_smaller_jpeg(api_url, mockup):
    with serve_files({"/art/red.png": (200, {"Content-Type": "image/png"}, solid_png())}) as base:
        body = render_body(mockup, {"url": f"{base}/art/red.png", "fit": "cover"},
                           export_options={"image_format": "jpg", "image_size": 200, "quality": 90})
        task = finish(api_url, start(api_url, body)["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    [print_file] = task["print_files"]
    assert (print_file["width"], print_file["height"], print_file["format"]) == (200, 200, "jpg")
    data = download(print_file)
    assert data.startswith(b"\xff\xd8")
    image = pixels(data)
    assert image.shape == (200, 200, 3)
    inside, _ = quad_masks(200, scale=0.5)
    red = image[inside].mean(axis=0)
    assert red[0] > 150 and red[1] < 80 and red[2] < 80, red


def test_render_with_multipart_artwork_and_wait(api_url, mockup):
    body = render_body(mockup, {"file": True}, export_options={"image_format": "webp", "quality": 95})
    response = requests.post(f"{api_url}/api/v1/renders", headers=auth(), params={"wait": 20},
                             data={"data": json.dumps(body)}, files={"file": ("art.png", solid_png((20, 160, 60)))},
                             timeout=40)
    assert response.status_code == 200, response.text
    task = response.json()["data"]
    assert task["status"] == "completed", task["error"]
    data = download(task["print_files"][0])
    assert data[8:12] == b"WEBP"
    inside, _ = quad_masks(SIZE)
    green = pixels(data)[inside].mean(axis=0)
    assert green[1] > 110 and green[0] < 80 and green[2] < 100, green


def test_colour_and_adjustments_reach_the_render(api_url, mockup):
    white = solid_png((255, 255, 255))
    body = render_body(mockup, {"base64": b64(white), "content_type": "image/png"})
    body["smart_objects"][0]["color"] = {"hex": "#1E40FF", "blending_mode": "multiply"}
    body["smart_objects"][0]["adjustment_layers"] = {"brightness": -20}
    task = finish(api_url, start(api_url, body)["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    inside, _ = quad_masks(SIZE)
    blue = pixels(download(task["print_files"][0]))[inside].mean(axis=0)
    assert blue[2] > 150 and blue[0] < 80, blue


def test_print_files_as_png_and_pdf(api_url, mockup):
    uuid = mockup["smart_objects"][0]["uuid"]
    body = {"mockup_uuid": mockup["uuid"],
            "smart_objects": [{"uuid": uuid, "asset": {"base64": b64(solid_png()), "content_type": "image/png"}}],
            "export_options": {"image_format": "png", "dpi": 150}}
    task = finish(api_url, start(api_url, body, "/print-files")["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    [print_file] = task["print_files"]
    # 144 x 192 content pixels at 300 dpi, printed at 150 dpi.
    assert (print_file["width"], print_file["height"]) == (72, 96)
    assert print_file["smart_object_uuid"] == uuid
    image = Image.open(io.BytesIO(download(print_file)))
    assert image.size == (72, 96) and round(image.info["dpi"][0]) == 150
    assert np.abs(np.asarray(image.convert("RGB"), np.int16) - RED).max() <= 2

    colour_only = {**body, "smart_objects": [{"uuid": uuid, "color": {"hex": "#ff0000"}}]}
    response = start(api_url, colour_only, "/print-files", expect=422)
    assert "smart_objects.0.asset" in response["errors"]["json"]

    body["export_options"] = {"image_format": "pdf"}
    task = finish(api_url, start(api_url, body, "/print-files")["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    assert download(task["print_files"][0]).startswith(b"%PDF")


def test_failed_artwork_download_fails_the_task_naming_the_url(api_url, mockup):
    with serve_files({}) as base:
        url = f"{base}/missing.png"
        task = finish(api_url, start(api_url, render_body(mockup, {"url": url}))["data"]["task_key"])
    assert task["status"] == "failed"
    assert url in task["error"] and "502" in task["error"] and "smart_objects.0.asset.url" in task["error"]


def test_artwork_that_is_not_an_image_fails_the_task(api_url, mockup):
    body = render_body(mockup, {"base64": b64(b"GIF89a but not really"), "content_type": "image/gif"})
    task = finish(api_url, start(api_url, body)["data"]["task_key"])
    assert task["status"] == "failed" and task["error"]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/iam", "http://192.168.1.1/a.png",
                                 "file:///etc/passwd"])
def test_refused_artwork_urls_are_422(api_url, mockup, url):
    response = start(api_url, render_body(mockup, {"url": url}), expect=422)
    assert "refused" in response["errors"]["json"]["smart_objects.0.asset.url"][0]


@pytest.mark.parametrize("change, field", [
    ({"export_options": {"image_format": "gif"}}, "image_format"),
    ({"export_options": {"image_size": 99}}, "image_size"),
    ({"export_options": {"image_size": 10001}}, "image_size"),
    ({"export_options": {"quality": 0}}, "quality"),
    ({"export_options": {"quality": 101}}, "quality"),
    ({"asset": {"rotate": 361}}, "rotate"),
    ({"asset": {"fit": "squash"}}, "fit"),
    ({"asset": {"size": {"width": 0, "height": 10}}}, "width"),
    ({"asset": {"position": {"top": 40000, "left": 0}}}, "top"),
    ({"adjustment_layers": {"brightness": 151}}, "brightness"),
    ({"adjustment_layers": {"contrast": -101}}, "contrast"),
    ({"adjustment_layers": {"saturation": 101}}, "saturation"),
    ({"adjustment_layers": {"vibrance": -101}}, "vibrance"),
    ({"adjustment_layers": {"opacity": 101}}, "opacity"),
    ({"adjustment_layers": {"blur": -1}}, "blur"),
    ({"color": {"hex": "red"}}, "hex"),
    ({"color": {"hex": "#ff0000", "blending_mode": "glow"}}, "blending_mode"),
    ({"asset": {"base64": "AAAA"}}, "content_type"),
    ({"asset": {"tint": 3}}, "tint"),
    ({"unknown": 1}, "unknown"),
    ({"uuid": "00000000-0000-4000-8000-000000000000"}, "smart_objects.0.uuid"),
    ({"print_area_preset_uuid": "00000000-0000-4000-8000-000000000000"}, "print_area_preset_uuid"),
    ({"asset": {"base64": "%%%", "content_type": "image/png"}}, "smart_objects.0.asset.base64"),
])
def test_invalid_renders_are_422_naming_the_field(api_url, mockup, change, field):
    body = render_body(mockup, {"base64": b64(solid_png()), "content_type": "image/png"})
    item = body["smart_objects"][0]
    for name, value in change.items():
        if name == "export_options":
            body["export_options"] = value
        elif name == "asset" and "base64" not in value and "url" not in value:
            item["asset"].update(value)
        else:
            item[name] = value
    response = start(api_url, body, expect=422)
    # `detail` names the field by its whole path, e.g. json.smart_objects.0.asset.rotate.
    assert field in response["detail"], response


def test_unknown_mockup_is_404_and_a_failed_one_409(api_url):
    response = start(api_url, {"mockup_uuid": "00000000-0000-4000-8000-000000000000"}, expect=404)
    assert "no mockup" in response["detail"]
    failed = wait_for_mockup(api_url, upload_template(api_url, b"not a psd")["uuid"])
    assert failed["status"] == "failed"
    response = start(api_url, {"mockup_uuid": failed["uuid"]}, expect=409)
    assert "failed" in response["detail"]


def test_another_account_can_neither_render_the_mockup_nor_read_the_task(api_url, mockup):
    other = new_api_key("renders-other-tenant")
    start(api_url, render_body(mockup, {"base64": b64(solid_png()), "content_type": "image/png"}),
          api_key=other, expect=404)
    task_key = start(api_url, render_body(mockup, {"base64": b64(solid_png()), "content_type": "image/png"})
                     )["data"]["task_key"]
    response = requests.get(f"{api_url}/api/v1/tasks/{task_key}", headers=auth(other), timeout=10)
    assert response.status_code == 404
    assert finish(api_url, task_key)["status"] == "completed"


def test_render_of_a_deleted_mockup_fails_with_a_reason(api_url):
    ready = wait_for_mockup(api_url, upload_template(api_url, demo_psd(), how="base64")["uuid"])
    body = {"mockup_uuid": ready["uuid"], "export_options": {"image_format": "png"}}
    # Recorded while the mockup exists, run after it is gone (the render pool is
    # kept busy by nothing else, so the delete may win or lose the race: both must end well).
    task_key = start(api_url, body)["data"]["task_key"]
    assert requests.delete(f"{api_url}/api/v1/mockups/{ready['uuid']}", headers=auth(),
                           timeout=10).status_code == 200
    task = finish(api_url, task_key)
    assert task["status"] == "completed" or "deleted" in task["error"], task


def test_uploaded_artwork_is_deleted_with_the_results(farm, api_url, mockup):
    import time

    from shared import tasks
    from shared.db import get_pool
    from shared.storage import Storage

    body = render_body(mockup, {"base64": b64(solid_png()), "content_type": "image/png"})
    task = finish(api_url, start(api_url, body)["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    record = tasks.get_task(task["task_key"])
    [upload] = tasks.uploaded_objects_of(record)
    [result] = [f["object_key"] for f in tasks.print_files_of(record)]
    storage = Storage(farm.settings)
    assert storage.exists(upload) and storage.exists(result)
    # As if the result lifetime had passed: beat's cleanup takes both.
    with get_pool().connection() as conn:
        conn.execute("UPDATE tasks SET finished_at = finished_at - make_interval(secs => %s) WHERE key = %s",
                     (farm.settings.result_url_ttl + 60, task["task_key"]))
    deadline = time.monotonic() + 10 * farm.settings.cleanup_interval + 10
    while tasks.get_task(task["task_key"]).results_deleted_at is None:
        assert time.monotonic() < deadline, "the periodic cleanup did not run"
        time.sleep(0.5)
    assert not storage.exists(upload) and not storage.exists(result)


def test_artwork_over_the_byte_limit_is_refused(api_url, mockup):
    import os

    too_big = os.urandom(4 * 1024 * 1024 + 1)  # MOCKFARM_MAX_ASSET_BYTES in the test stack: 4 MiB
    response = start(api_url, render_body(mockup, {"base64": b64(too_big), "content_type": "image/png"}),
                     expect=413)
    assert "smart_objects.0.asset.base64" in response["detail"]
    with serve_files({"/big.png": (200, {"Content-Type": "image/png"}, too_big)}) as base:
        url = f"{base}/big.png"
        task = finish(api_url, start(api_url, render_body(mockup, {"url": url}))["data"]["task_key"])
    assert task["status"] == "failed" and url in task["error"] and "413" in task["error"]


def two_object_template(names=("Left", "Right"), linked: bool = False) -> bytes:
    """Two grey smart objects; `linked`: Photoshop's linked instances (one embedded file)."""
    from compositor.fixtures.psd_writer import Document, PixelLayer, SmartObjectLayer, write_psd

    background = np.zeros((200, 300, 4), np.uint8)
    background[...] = (240, 235, 225, 255)
    grey = solid_png((128, 128, 128), (100, 100))
    shared = "0c0ffee0-0000-4000-8000-000000000001" if linked else None
    return write_psd(Document(width=300, height=200, layers=[
        PixelLayer("Background", background),
        SmartObjectLayer(names[0], grey, quad=((20, 50), (120, 50), (120, 150), (20, 150)), unique_id=shared),
        SmartObjectLayer(names[1], grey, quad=((180, 40), (280, 60), (280, 160), (180, 140)), unique_id=shared),
    ]))


def test_only_the_smart_objects_given_change(api_url):
    mockup = wait_for_mockup(api_url, upload_template(api_url, two_object_template())["uuid"])
    assert mockup["status"] == "ready", mockup["error"]
    left, right = mockup["smart_objects"]
    assert (left["name"], right["name"]) == ("Left", "Right") and left["uuid"] != right["uuid"]
    assert mockup["unsupported"] == []

    def render_png(smart_objects):
        body = {"mockup_uuid": mockup["uuid"], "smart_objects": smart_objects,
                "export_options": {"image_format": "png"}}
        task = finish(api_url, start(api_url, body)["data"]["task_key"])
        assert task["status"] == "completed", task["error"]
        return pixels(download(task["print_files"][0]))

    base = render_png([])
    red_left = render_png([{"uuid": left["uuid"], "asset": {"base64": b64(solid_png()), "content_type": "image/png"}}])
    assert np.abs(red_left[60:140, 30:110] - RED).max() <= 2
    assert np.array_equal(red_left[:, 160:], base[:, 160:])  # the right one kept its content
    assert np.abs(base[60:140, 30:110] - 128).max() <= 2
    # Colour alone fills the print area.
    blue_right = render_png([{"uuid": right["uuid"], "color": {"hex": "#0000ff"}}])
    assert np.abs(blue_right[80:120, 200:260] - (0, 0, 255)).max() <= 2
    assert np.array_equal(blue_right[:, :150], base[:, :150])


def _render_png(api_url, mockup, smart_objects):
    body = {"mockup_uuid": mockup["uuid"], "smart_objects": smart_objects, "export_options": {"image_format": "png"}}
    task = finish(api_url, start(api_url, body)["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    return pixels(download(task["print_files"][0]))


def test_smart_objects_sharing_a_name_get_their_own_artwork(api_url):
    mockup = wait_for_mockup(api_url, upload_template(api_url, two_object_template(("Design", "Design")))["uuid"])
    assert mockup["status"] == "ready", mockup["error"]
    first, second = mockup["smart_objects"]
    assert first["uuid"] != second["uuid"] and mockup["unsupported"] == []
    assert first["linked_uuids"] == [] and second["linked_uuids"] == []
    red = {"base64": b64(solid_png()), "content_type": "image/png"}
    both = _render_png(api_url, mockup, [{"uuid": first["uuid"], "asset": red},
                                         {"uuid": second["uuid"], "color": {"hex": "#0000ff"}}])
    assert np.abs(both[60:140, 30:110] - RED).max() <= 2
    assert np.abs(both[80:120, 200:260] - (0, 0, 255)).max() <= 2


def test_linked_instances_follow_the_artwork_of_one(api_url):
    # As in Photoshop: a design's linked copy (its reflection, say) shows the same content.
    template = two_object_template(("Design", "Reflection"), linked=True)
    mockup = wait_for_mockup(api_url, upload_template(api_url, template)["uuid"])
    assert mockup["status"] == "ready", mockup["error"]
    design, reflection = mockup["smart_objects"]
    assert design["linked_uuids"] == [reflection["uuid"]] and reflection["linked_uuids"] == [design["uuid"]]
    red = {"base64": b64(solid_png()), "content_type": "image/png"}
    one = _render_png(api_url, mockup, [{"uuid": design["uuid"], "asset": red}])
    assert np.abs(one[60:140, 30:110] - RED).max() <= 2
    assert np.abs(one[80:120, 200:260] - RED).max() <= 2
    own = _render_png(api_url, mockup, [{"uuid": design["uuid"], "asset": red},
                                        {"uuid": reflection["uuid"], "color": {"hex": "#0000ff"}}])
    assert np.abs(own[60:140, 30:110] - RED).max() <= 2
    assert np.abs(own[80:120, 200:260] - (0, 0, 255)).max() <= 2


def test_placement_options_reach_the_compositor(api_url):
    mockup = wait_for_mockup(api_url, upload_template(api_url, two_object_template())["uuid"])
    left = mockup["smart_objects"][0]
    halves = np.zeros((100, 100, 3), np.uint8)
    halves[:, :50] = RED
    halves[:, 50:] = (30, 40, 220)
    buffer = io.BytesIO()
    Image.fromarray(halves).save(buffer, format="PNG")
    artwork = {"base64": b64(buffer.getvalue()), "content_type": "image/png"}

    def render_left(**options):
        item = {"uuid": left["uuid"], "asset": {**artwork, **options.pop("asset", {})}, **options}
        body = {"mockup_uuid": mockup["uuid"], "smart_objects": [item], "export_options": {"image_format": "png"}}
        task = finish(api_url, start(api_url, body)["data"]["task_key"])
        assert task["status"] == "completed", task["error"]
        return pixels(download(task["print_files"][0]))

    # The smart object's content (100 x 100) lands on canvas x 20..120, y 50..150.
    plain = render_left(print_area_preset_uuid=left["print_area_presets"][0]["uuid"])
    assert np.abs(plain[60:140, 25:65] - RED).max() <= 2 and np.abs(plain[60:140, 75:115] - (30, 40, 220)).max() <= 2
    flipped = render_left(asset={"flip_horizontal": True})
    assert np.abs(flipped[60:140, 25:65] - (30, 40, 220)).max() <= 2
    turned = render_left(asset={"rotate": 90})  # clockwise: the red half goes to the top
    assert np.abs(turned[55:95, 30:110] - RED).max() <= 2 and np.abs(turned[105:145, 30:110] - (30, 40, 220)).max() <= 2
    # A 50 x 50 box at the content's top left: the rest of the print area is empty (the wall shows).
    small = render_left(asset={"size": {"width": 50, "height": 50}, "position": {"top": 0, "left": 0}})
    assert np.abs(small[52:98, 22:45] - RED).max() <= 2
    assert np.abs(small[105:145, 75:115] - (240, 235, 225)).max() <= 2


def test_a_plan_that_cannot_be_read_fails_the_render_with_a_reason(api_url):
    from shared import mockups
    from shared.storage import Storage

    ready = wait_for_mockup(api_url, upload_template(api_url, two_object_template())["uuid"])
    # As if an older mockfarm had written it.
    Storage().put_bytes(mockups.get_mockup(ready["uuid"]).plan_key, b"an older plan format", "application/zip")
    task = finish(api_url, start(api_url, {"mockup_uuid": ready["uuid"]})["data"]["task_key"])
    assert task["status"] == "failed" and "upload the template again" in task["error"], task
