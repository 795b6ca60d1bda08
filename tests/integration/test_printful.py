"""The Printful-compatible mockup generator through the real stack: products defined
by `mockfarm products import` and by the API, a create-task request in the shape of
Printful's documented example sent with a Bearer token, the mockups and print files
downloaded and their pixels checked, and Printful's errors."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid

import cv2
import numpy as np
import pytest
import requests
from PIL import Image

from compositor.fixtures.demo import CONTENT_SIZE, build_demo_template, print_area_quad
from tests.integration.helpers import new_api_key, serve_files, upload_template, wait_for_mockup

pytestmark = pytest.mark.integration

SIZE = 400
RED = (220, 30, 40)
BLUE = "#2050d0"
# The print files: the demo's print area is 3:4, like both.
SMALL = {"printfile_id": 1, "width": 600, "height": 800, "dpi": 100, "fill_mode": "fit", "can_rotate": False}
LARGE = {"printfile_id": 2, "width": 900, "height": 1200, "dpi": 100, "fill_mode": "cover", "can_rotate": False}
# Where the artwork goes, in the small print file's space: a 400 px square whose
# centre is the area's; the band above it (y < 200) is the area without artwork.
POSITION = {"area_width": 600, "area_height": 800, "width": 400, "height": 400, "top": 200, "left": 100}
ARTWORK_CENTRE = (300, 400)
EMPTY_BAND = (300, 90)

_state: dict[str, object] = {}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def account(api_url) -> dict:
    """An account of its own (mockup names are looked up in it) with two ready demo
    templates, "Poster wall" and "Poster closeup" (another seed); made once per database."""
    from shared.config import load_settings

    cache_key = load_settings().database_url
    if _state.get("database") != cache_key:
        name = unique("printful")
        key = new_api_key(name)
        made = {}
        for mockup_name, seed in (("Poster wall", 0), ("Poster closeup", 1)):
            accepted = upload_template(api_url, build_demo_template(SIZE, seed=seed), name=mockup_name, api_key=key)
            made[mockup_name] = accepted["uuid"]
        for mockup_uuid in made.values():
            ready = wait_for_mockup(api_url, mockup_uuid, timeout=60, api_key=key)
            assert ready["status"] == "ready", ready["error"]
        _state.update(database=cache_key, account={"name": name, "key": key, "mockups": made})
    return _state["account"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def product_document(wall: str, closeup: str, **extra) -> dict:
    """Three variants: white in two sizes (the larger with its own print file) and
    blue; each with a wall view and a close-up view of the poster."""
    views = [{"mockup": wall, "option": "Front", "option_group": "Wall"},
             {"mockup": closeup, "option": "Closeup", "option_group": "Wall"}]
    document = {
        "title": "Framed poster",
        "printfiles": [SMALL, LARGE],
        "placements": [{"placement": "front", "title": "Poster", "smart_object": "Design", "printfile_id": 1}],
        "color_overlay": {"smart_object": "Design", "blend_mode": "multiply"},
        "variants": [
            {"id": 9001, "color": "White", "color_code": "#ffffff", "size": "12x16", "mockups": views},
            {"id": 9002, "color": "White", "color_code": "#ffffff", "size": "18x24", "mockups": views,
             "printfiles": {"front": 2}},
            {"id": 9003, "color": "Blue", "color_code": BLUE, "size": "12x16", "mockups": views},
        ],
    }
    document.update(extra)
    return document


def mockfarm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, timeout=60)


def import_product(tmp_path, document: dict, account_name: str, *options: str) -> subprocess.CompletedProcess:
    path = tmp_path / f"{unique('product')}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return mockfarm("products", "import", str(path), "--account", account_name, *options)


def artwork_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (512, 512), RED).save(buffer, format="PNG")
    return buffer.getvalue()


def download(url: str) -> np.ndarray:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA")).astype(np.int16)


def canvas_point(area_point, scale: float) -> tuple[int, int]:
    """A point of the small print file's area -> (x, y) on a mockup `scale` times the
    template's size, through the demo's own geometry (its content is 3:4 like the area)."""
    content_w, content_h = (f * SIZE for f in CONTENT_SIZE)
    source = np.float32([[0, 0], [content_w, 0], [content_w, content_h], [0, content_h]])
    matrix = cv2.getPerspectiveTransform(source, print_area_quad(SIZE).astype(np.float32))
    x, y = area_point[0] * content_w / SMALL["width"], area_point[1] * content_h / SMALL["height"]
    mapped = cv2.perspectiveTransform(np.float32([[[x, y]]]), matrix)[0, 0] * scale
    return int(round(mapped[0])), int(round(mapped[1]))


def colour_at(image: np.ndarray, point) -> np.ndarray:
    x, y = point
    return image[y - 2:y + 3, x - 2:x + 3, :3].reshape(-1, 3).mean(axis=0)


def poll(api_url: str, task_key: str, key: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(f"{api_url}/mockup-generator/task", params={"task_key": task_key},
                                headers=bearer(key), timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["code"] == 200
        if body["result"]["status"] != "pending":
            return body["result"]
        assert time.monotonic() < deadline, f"task {task_key} still pending after {timeout} s"
        time.sleep(0.3)


def is_printful_error(response, status: int, reason: str) -> bool:
    body = response.json()
    return (response.status_code == status and body["code"] == status and isinstance(body["result"], str)
            and body["error"] == {"reason": reason, "message": body["result"]})


# --------------------------------------------------------------------------- defining products


def test_products_are_defined_by_the_import_command_and_by_the_api(api_url, account, tmp_path):
    wall, closeup = account["mockups"]["Poster wall"], account["mockups"]["Poster closeup"]
    # By mockup names, through the command, with an id chosen as a Printful client knows it.
    imported = import_product(tmp_path, product_document("Poster wall", "Poster closeup", id=7101),
                              account["name"])
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "7101"
    product = requests.get(f"{api_url}/api/v1/products/7101", headers=bearer(account["key"]), timeout=10).json()
    assert product["success"] is True
    data = product["data"]
    assert [v["id"] for v in data["variants"]] == [9001, 9002, 9003]
    assert [[m["mockup_uuid"] for m in v["mockups"]] for v in data["variants"]] == [[wall, closeup]] * 3
    assert data["templates"] == [{"template_id": 1, "mockup_uuid": wall, "placement": "front"},
                                 {"template_id": 2, "mockup_uuid": closeup, "placement": "front"}]

    # The same id again: refused, unless replacing.
    again = import_product(tmp_path, product_document("Poster wall", "Poster closeup", id=7101, title="Other"),
                           account["name"])
    assert again.returncode != 0 and "7101" in again.stderr
    replaced = import_product(tmp_path, product_document("Poster wall", "Poster closeup", id=7101, title="Other"),
                              account["name"], "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "Other" in mockfarm("products", "list", "--account", account["name"]).stdout

    conflict = requests.post(f"{api_url}/api/v1/products", headers=bearer(account["key"]),
                             json=product_document(wall, closeup, id=7101), timeout=10)
    assert conflict.status_code == 409 and "7101" in conflict.json()["detail"]

    # By uuids, through the API, numbered by the account: after its highest id.
    def listed() -> list[int]:
        page = requests.get(f"{api_url}/api/v1/products", headers=bearer(account["key"]),
                            params={"limit": 100}, timeout=10).json()["data"]
        return [p["id"] for p in page["items"]]

    before = listed()
    created = requests.post(f"{api_url}/api/v1/products", headers=bearer(account["key"]),
                            json=product_document(wall, closeup), timeout=10)
    assert created.status_code == 201, created.text
    new_id = created.json()["data"]["id"]
    assert new_id == max(before) + 1
    assert listed() == sorted(before + [new_id])
    assert requests.delete(f"{api_url}/api/v1/products/{new_id}", headers=bearer(account["key"]),
                           timeout=10).status_code == 204
    assert requests.get(f"{api_url}/api/v1/products/{new_id}", headers=bearer(account["key"]),
                        timeout=10).status_code == 404
    assert listed() == before


@pytest.mark.parametrize("change, field", [
    (lambda d: d["variants"][0]["mockups"][0].update(mockup="No such template"), "variants.0.mockups.0.mockup"),
    (lambda d: d["placements"].append({"placement": "back", "smart_object": "Sleeve", "printfile_id": 1}),
     "placements.1.smart_object"),
    (lambda d: d["placements"][0].update(printfile_id=3), "placements"),
    (lambda d: d["variants"][1].update(printfiles={"back": 2}), "variants"),
    (lambda d: d["variants"][1].update(id=9001), "variants"),
])
def test_invalid_products_are_refused_naming_the_field(api_url, account, tmp_path, change, field):
    document = product_document("Poster wall", "Poster closeup")
    change(document)
    response = requests.post(f"{api_url}/api/v1/products", headers=bearer(account["key"]), json=document,
                             timeout=10)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]
    imported = import_product(tmp_path, document, account["name"])
    assert imported.returncode != 0 and field.split(".")[0] in imported.stderr


# --------------------------------------------------------------------------- the generator


@pytest.fixture()
def product(api_url, account) -> int:
    wall, closeup = account["mockups"]["Poster wall"], account["mockups"]["Poster closeup"]
    created = requests.post(f"{api_url}/api/v1/products", headers=bearer(account["key"]),
                            json=product_document(wall, closeup), timeout=10)
    assert created.status_code == 201, created.text
    return created.json()["data"]["id"]


def test_printfiles_and_templates_describe_the_product_consistently(api_url, account, product):
    response = requests.get(f"{api_url}/mockup-generator/printfiles/{product}", headers=bearer(account["key"]),
                            timeout=10)
    assert response.status_code == 200, response.text
    printfiles = response.json()
    assert printfiles["code"] == 200
    result = printfiles["result"]
    assert result["product_id"] == product
    assert result["available_placements"] == {"front": "Poster"}
    assert result["printfiles"] == [SMALL, LARGE]
    assert result["variant_printfiles"] == [{"variant_id": 9001, "placements": {"front": 1}},
                                            {"variant_id": 9002, "placements": {"front": 2}},
                                            {"variant_id": 9003, "placements": {"front": 1}}]
    assert result["option_groups"] == ["Wall"] and result["options"] == ["Front", "Closeup"]

    response = requests.get(f"{api_url}/mockup-generator/templates/{product}", headers=bearer(account["key"]),
                            timeout=10)
    assert response.status_code == 200, response.text
    templates = response.json()["result"]
    assert templates["min_dpi"] == 100 and templates["conflicting_placements"] == []
    by_id = {t["template_id"]: t for t in templates["templates"]}
    sizes = {p["printfile_id"]: p for p in result["printfiles"]}
    for mapping in templates["variant_mapping"]:
        assert [t["placement"] for t in mapping["templates"]] == ["front", "front"]
        assert all(t["template_id"] in by_id for t in mapping["templates"])
    quad = print_area_quad(SIZE)
    for template in by_id.values():
        # The template's image is the mockup's thumbnail (a 400 px template is not enlarged).
        image = download(template["image_url"])
        assert image.shape[:2] == (template["template_height"], template["template_width"]) == (SIZE, SIZE)
        # The print area is the demo's print area, whose aspect is the print file's.
        printfile = sizes[template["printfile_id"]]
        assert abs(template["print_area_left"] - quad[:, 0].min()) <= 1
        assert abs(template["print_area_top"] - quad[:, 1].min()) <= 1
        assert abs(template["print_area_width"] - np.ptp(quad[:, 0])) <= 1
        assert abs(template["print_area_height"] - np.ptp(quad[:, 1])) <= 1
        aspect = template["print_area_width"] / template["print_area_height"]
        assert abs(aspect - printfile["width"] / printfile["height"]) < 0.05


def test_a_printful_request_renders_every_variant_with_the_artwork_and_its_colour(api_url, account, product):
    with serve_files({"/designs/poster.png": (200, {"Content-Type": "image/png"}, artwork_png())}) as base:
        # The shape of Printful's documented create-task example, as a Printful client sends it.
        request_body = {
            "variant_ids": [9001, 9002, 9003],
            "format": "jpg",
            "width": 300,
            "files": [
                {
                    "placement": "front",
                    "image_url": f"{base}/designs/poster.png",
                    "position": dict(POSITION),
                },
            ],
        }
        response = requests.post(f"{api_url}/mockup-generator/create-task/{product}",
                                 headers=bearer(account["key"]), json=request_body, timeout=30)
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["code"] == 200 and created["result"]["status"] == "pending"
        assert created["result"]["task_key"].startswith("gt-")
        result = poll(api_url, created["result"]["task_key"], account["key"])
    assert result["status"] == "completed", result.get("error")
    assert result["task_key"] == created["result"]["task_key"]
    # It ran as a bulk task: a render per colour and view, a print file per print file.
    task = requests.get(f"{api_url}/api/v1/tasks/{result['task_key'][3:]}", headers=bearer(account["key"]),
                        timeout=10).json()["data"]
    assert task["progress"] == {"done": 6, "failed": 0, "total": 6}

    # Sizes of a colour share their mockups; every mockup has the close-up as extra.
    by_variants = {tuple(m["variant_ids"]): m for m in result["mockups"]}
    assert set(by_variants) == {(9001, 9002), (9003,)}
    assert all(m["placement"] == "front" for m in result["mockups"])
    scale = 300 / SIZE
    images = {}
    for variants, mockup in by_variants.items():
        image = download(mockup["mockup_url"])
        assert image.shape[:2] == (300, 300)
        images[variants] = image
        [extra] = mockup["extra"]
        assert (extra["option"], extra["option_group"], extra["title"]) == ("Closeup", "Wall", "Closeup")
        closeup = download(extra["url"])
        assert closeup.shape[:2] == (300, 300) and np.abs(closeup - image).mean() > 1
    white, blue = images[(9001, 9002)], images[(9003,)]
    centre, band = canvas_point(ARTWORK_CENTRE, scale), canvas_point(EMPTY_BAND, scale)
    # The white variant: the red artwork where it was placed, white paper above it.
    red = colour_at(white, centre)
    assert red[0] > 150 and red[1] < 80 and red[2] < 80, red
    paper = colour_at(white, band)
    assert paper.min() > 150, paper
    # The blue variant: its colour where the artwork is not, and the artwork (darkened
    # by the multiply) where it is.
    blue_paper = colour_at(blue, band)
    assert blue_paper[2] > blue_paper[0] + 60 and blue_paper[2] > blue_paper[1] + 30, blue_paper
    assert np.abs(colour_at(blue, centre) - blue_paper).max() > 60
    assert np.abs(paper - blue_paper).max() > 60
    # Away from the poster the variants' mockups are the same template.
    assert np.abs(white[:40, :40, :3] - blue[:40, :40, :3]).max() <= 2

    # One print file per print file used: the artwork placed, transparent elsewhere.
    by_placement = {tuple(p["variant_ids"]): p for p in result["printfiles"]}
    assert set(by_placement) == {(9001, 9003), (9002,)}
    for variants, printfile, factor in (((9001, 9003), SMALL, 1.0), ((9002,), LARGE, 1.5)):
        assert by_placement[variants]["placement"] == "front"
        image = download(by_placement[variants]["url"])
        assert image.shape[:2] == (printfile["height"], printfile["width"])
        x, y = (round(v * factor) for v in ARTWORK_CENTRE)
        assert tuple(image[y, x]) == (*RED, 255)
        x, y = (round(v * factor) for v in EMPTY_BAND)
        assert image[y, x, 3] == 0
        # The artwork's box: POSITION scaled from the area to the print file.
        opaque = np.argwhere(image[..., 3] > 128)
        top, left = opaque.min(axis=0)
        bottom, right = opaque.max(axis=0) + 1
        assert np.allclose([left, top, right - left, bottom - top],
                           [v * factor for v in (100, 200, 400, 400)], atol=1)


def test_options_select_the_mockups_and_unknown_ones_are_refused(api_url, account, product):
    with serve_files({"/a.png": (200, {"Content-Type": "image/png"}, artwork_png())}) as base:
        body = {"variant_ids": [9003], "format": "png", "options": ["Closeup"],
                "files": [{"placement": "front", "image_url": f"{base}/a.png"}]}
        response = requests.post(f"{api_url}/mockup-generator/create-task/{product}",
                                 headers={"x-api-key": account["key"]}, json=body, timeout=30)
        assert response.status_code == 200, response.text
        result = poll(api_url, response.json()["result"]["task_key"], account["key"])
    assert result["status"] == "completed", result.get("error")
    [mockup] = result["mockups"]
    assert mockup["variant_ids"] == [9003] and mockup["extra"] == []
    response = requests.get(mockup["mockup_url"], timeout=10)
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"

    bad = requests.post(f"{api_url}/mockup-generator/create-task/{product}", headers=bearer(account["key"]),
                        json={**body, "options": ["Back"]}, timeout=10)
    assert is_printful_error(bad, 400, "BadRequest") and "Back" in bad.json()["result"]


def test_an_image_that_cannot_be_downloaded_fails_the_task_naming_the_placement(api_url, account, product):
    with serve_files({}) as base:
        response = requests.post(f"{api_url}/mockup-generator/create-task/{product}", headers=bearer(account["key"]),
                                 json={"variant_ids": [9001], "format": "jpg",
                                       "files": [{"placement": "front", "image_url": f"{base}/missing.png"}]},
                                 timeout=30)
        assert response.status_code == 200, response.text
        result = poll(api_url, response.json()["result"]["task_key"], account["key"])
    assert result["status"] == "failed"
    assert "front" in result["error"] and "missing.png" in result["error"]
    assert "mockups" not in result


def test_a_product_whose_mockup_was_deleted_is_refused_until_defined_again(api_url, account):
    doomed = upload_template(api_url, build_demo_template(SIZE, seed=2), name="Doomed poster",
                             api_key=account["key"])
    assert wait_for_mockup(api_url, doomed["uuid"], timeout=60, api_key=account["key"])["status"] == "ready"
    document = product_document("Doomed poster", "Poster closeup")
    created = requests.post(f"{api_url}/api/v1/products", headers=bearer(account["key"]), json=document, timeout=10)
    assert created.status_code == 201, created.text
    product_id = created.json()["data"]["id"]
    assert requests.delete(f"{api_url}/api/v1/mockups/{doomed['uuid']}", headers=bearer(account["key"]),
                           timeout=10).status_code in (200, 204)
    for method, path in (("get", f"templates/{product_id}"), ("post", f"create-task/{product_id}")):
        response = requests.request(method, f"{api_url}/mockup-generator/{path}", headers=bearer(account["key"]),
                                    json={"variant_ids": [9001], "files": [{"placement": "front",
                                                                            "image_url": "https://example.com/a"}]},
                                    timeout=10)
        assert is_printful_error(response, 400, "BadRequest"), response.text
        assert doomed["uuid"] in response.json()["result"]
    # Defining it again names the missing mockup.
    again = requests.post(f"{api_url}/api/v1/products", headers=bearer(account["key"]), json=document, timeout=10)
    assert again.status_code == 422 and "Doomed poster" in again.json()["detail"]


@pytest.mark.parametrize("change, words", [
    ({"variant_ids": [9001, 123456]}, "123456"),
    ({"files": [{"placement": "sleeve", "image_url": "https://example.com/a.png"}]}, "sleeve"),
    ({"format": "gif"}, "format"),
    ({"variant_ids": []}, "variant_ids"),
    ({"files": [{"placement": "front", "image_url": "http://169.254.169.254/latest/meta-data"}]}, "image_url"),
    ({"files": [{"placement": "front", "image_url": "https://example.com/a.png", "position": {"width": 10}}]},
     "area_width"),
])
def test_invalid_requests_are_printful_400s(api_url, account, product, change, words):
    body = {"variant_ids": [9001], "format": "jpg",
            "files": [{"placement": "front", "image_url": "https://example.com/a.png"}], **change}
    response = requests.post(f"{api_url}/mockup-generator/create-task/{product}", headers=bearer(account["key"]),
                             json=body, timeout=10)
    assert is_printful_error(response, 400, "BadRequest"), response.text
    assert words in response.json()["result"]


def test_other_accounts_products_and_tasks_are_not_found_and_bad_tokens_are_printful_401s(api_url, account,
                                                                                         product):
    stranger = new_api_key(unique("stranger"))
    for method, path in (("get", f"printfiles/{product}"), ("get", f"templates/{product}"),
                         ("post", f"create-task/{product}")):
        response = requests.request(method, f"{api_url}/mockup-generator/{path}", headers=bearer(stranger),
                                    json={"variant_ids": [9001], "format": "jpg",
                                          "files": [{"placement": "front", "image_url": "https://example.com/a"}]},
                                    timeout=10)
        assert is_printful_error(response, 404, "NotFound"), (path, response.text)
    assert requests.get(f"{api_url}/api/v1/products/{product}", headers=bearer(stranger),
                        timeout=10).status_code == 404

    with serve_files({"/a.png": (200, {"Content-Type": "image/png"}, artwork_png())}) as base:
        response = requests.post(f"{api_url}/mockup-generator/create-task/{product}", headers=bearer(account["key"]),
                                 json={"variant_ids": [9001], "options": ["Front"],
                                       "files": [{"placement": "front", "image_url": f"{base}/a.png"}]}, timeout=30)
        task_key = response.json()["result"]["task_key"]
        assert poll(api_url, task_key, account["key"])["status"] == "completed"
    response = requests.get(f"{api_url}/mockup-generator/task", params={"task_key": task_key},
                            headers=bearer(stranger), timeout=10)
    assert is_printful_error(response, 404, "NotFound")
    for missing in ("gt-123", "not-a-key", task_key[3:]):
        response = requests.get(f"{api_url}/mockup-generator/task", params={"task_key": missing},
                                headers=bearer(account["key"]), timeout=10)
        assert is_printful_error(response, 404, "NotFound"), missing

    for headers in ({"Authorization": "Bearer not-a-key"}, {}):
        response = requests.get(f"{api_url}/mockup-generator/printfiles/{product}", headers=headers, timeout=10)
        assert is_printful_error(response, 401, "Unauthorized"), response.text


def test_openapi_documents_the_generator_and_products(api_url):
    spec = requests.get(f"{api_url}/api/v1/openapi.json", timeout=10).json()
    for path in ("/mockup-generator/printfiles/{product_id}", "/mockup-generator/templates/{product_id}",
                 "/mockup-generator/create-task/{product_id}", "/mockup-generator/task",
                 "/api/v1/products", "/api/v1/products/{product_id}"):
        assert path in spec["paths"], path
    create = spec["paths"]["/mockup-generator/create-task/{product_id}"]["post"]
    assert "requestBody" in create
    # Printful's errors: 400 for invalid input (not mockfarm's 422), in Printful's shape.
    assert "422" not in create["responses"]
    for status in ("400", "404", "default"):
        schema = create["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/PrintfulError"}, status
    assert set(spec["components"]["schemas"]["PrintfulError"]["properties"]) == {"code", "result", "error"}
    # Products keep mockfarm's envelope.
    assert "422" in spec["paths"]["/api/v1/products"]["post"]["responses"]
