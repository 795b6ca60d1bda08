"""What a Printful create-task request becomes (shared/printful.py), without services:
where the image lands in a smart object's content, which variants share a render,
and the requests refused before anything is queued."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.mockups import Mockup
from shared.printful import GenerationError, generation_params, placed_asset
from shared.products import Product, area_in_content

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
SMALL = {"printfile_id": 1, "width": 600, "height": 800, "dpi": 100, "fill_mode": "fit", "can_rotate": False}
WIDE = {"printfile_id": 2, "width": 1000, "height": 800, "dpi": 100, "fill_mode": "cover", "can_rotate": False}


def smart_object(name: str, width: int, height: int) -> dict:
    return {"uuid": f"so-{name}", "name": name, "layer_name": name, "size": {"width": width, "height": height},
            "quad": [[0, 0], [width, 0], [width, height], [0, height]], "dpi": 300}


def mockup(uuid: str, *smart_objects: dict) -> Mockup:
    return Mockup(uuid=uuid, account_id=1, name=uuid, status="ready", error=None, task_key=None, width=1000,
                  height=1000, smart_objects=list(smart_objects), thumbnails={}, plan_key=f"plans/{uuid}",
                  psd_key=None, fidelity=None, unsupported=[], created_at=NOW, updated_at=NOW)


SHIRT = mockup("shirt", smart_object("Chest", 300, 400), smart_object("Body", 800, 900))
SHIRT_BACK = mockup("shirt-back", smart_object("Back", 300, 400), smart_object("Body", 800, 900))
# A three-quarter view: the chest and the back both show.
SHIRT_SIDE = mockup("shirt-side", smart_object("Chest", 200, 260), smart_object("Back", 120, 160),
                    smart_object("Body", 700, 900))
BY_UUID = {m.uuid: m for m in (SHIRT, SHIRT_BACK, SHIRT_SIDE)}


def view(mockup_uuid: str, option: str) -> dict:
    return {"mockup_uuid": mockup_uuid, "mockup_name": mockup_uuid, "option": option, "option_group": "Men's"}


def product() -> Product:
    views = [view("shirt", "Front"), view("shirt-back", "Back"), view("shirt-side", "Left")]
    definition = {
        "title": "Shirt",
        "printfiles": [SMALL, WIDE],
        "placements": [{"placement": "front", "title": "Front", "smart_object": "Chest", "printfile_id": 1},
                       {"placement": "front_wide", "title": "Wide", "smart_object": "Chest", "printfile_id": 2},
                       {"placement": "back", "title": "Back", "smart_object": "Back", "printfile_id": 1}],
        "color_overlay": {"smart_object": "Body", "blend_mode": "multiply", "opacity": 100, "fill_area": True},
        "variants": [
            {"id": 11, "color_code": "#ffffff", "printfiles": {}, "mockups": views},
            {"id": 12, "color_code": "#ffffff", "printfiles": {"front": 2}, "mockups": views},
            {"id": 13, "color_code": "#112233", "printfiles": {}, "mockups": views},
        ],
        "templates": [{"template_id": 1, "mockup_uuid": "shirt", "placement": "front"},
                      {"template_id": 2, "mockup_uuid": "shirt", "placement": "front_wide"},
                      {"template_id": 3, "mockup_uuid": "shirt-back", "placement": "back"},
                      {"template_id": 4, "mockup_uuid": "shirt-side", "placement": "front"},
                      {"template_id": 5, "mockup_uuid": "shirt-side", "placement": "front_wide"},
                      {"template_id": 6, "mockup_uuid": "shirt-side", "placement": "back"}],
    }
    return Product(account_id=1, id=5, title="Shirt", definition=definition, created_at=NOW, updated_at=NOW)


def request(*files, variant_ids=(11, 12, 13), **extra) -> dict:
    return {"variant_ids": list(variant_ids), "format": "jpg", "files": list(files), **extra}


def file(placement: str, position: dict | None = None) -> dict:
    body = {"placement": placement, "image_url": f"https://example.com/{placement}.png"}
    if position:
        body["position"] = {"limit_to_print_area": True, **position}
    return body


def test_the_print_area_is_fitted_into_the_content_keeping_its_aspect():
    assert area_in_content((300, 400), (600, 800)) == (0, 0, 300, 400)
    # A wide area in a tall content: full width, centred vertically.
    assert area_in_content((300, 400), (1000, 800)) == pytest.approx((0, 80, 300, 240))


def test_a_position_is_scaled_from_the_area_into_the_content_and_clipped_to_the_area():
    position = {"area_width": 1000, "area_height": 800, "width": 500, "height": 400, "top": 100, "left": 250,
                "limit_to_print_area": True}
    asset, area = placed_asset({"image_url": "u", "object_key": "k", "position": position}, (300, 400), WIDE)
    # 0.3 content pixels per area pixel; the area starts 80 px down the content.
    assert asset["size"] == pytest.approx({"width": 150, "height": 120})
    assert asset["position"] == pytest.approx({"left": 75, "top": 110})
    assert asset["object_key"] == "k" and "fit" not in asset
    assert area["size"] == pytest.approx({"width": 300, "height": 240})
    assert area["position"] == pytest.approx({"left": 0, "top": 80})
    _, unclipped = placed_asset({"image_url": "u", "object_key": "k",
                                 "position": {**position, "limit_to_print_area": False}}, (300, 400), WIDE)
    assert unclipped is None


def test_without_a_position_the_image_fills_the_area_as_the_print_file_says():
    asset, area = placed_asset({"image_url": "u", "object_key": "k"}, (300, 400), SMALL)
    assert asset["fit"] == "contain" and "size" not in asset and area["size"] == {"width": 300, "height": 400}
    asset, _ = placed_asset({"image_url": "u", "object_key": "k"}, (300, 400), WIDE)
    assert asset["fit"] == "cover"


def test_variants_of_one_colour_share_renders_and_each_view_is_rendered_once():
    position = {"area_width": 600, "area_height": 800, "width": 300, "height": 300, "top": 0, "left": 0}
    params = generation_params(product(), BY_UUID, request(file("front", position), file("back", position)))
    renders = [item for item in params["items"] if item["kind"] == "render.mockup"]
    # Two colours x three views, whichever placements a view shows.
    assert len(renders) == 6
    front = [group for group in params["mockups"] if group["placement"] == "front"]
    back = [group for group in params["mockups"] if group["placement"] == "back"]
    assert [group["variant_ids"] for group in front] == [[11, 12], [13]]
    assert [group["variant_ids"] for group in back] == [[11, 12], [13]]
    # A placement's mockups are the views that show it: the front's are the front
    # view with the side view as extra; the back's the back view, with the same side view.
    assert params["items"][front[0]["item"]]["params"]["mockup_uuid"] == "shirt"
    assert params["items"][back[0]["item"]]["params"]["mockup_uuid"] == "shirt-back"
    [front_extra], [back_extra] = front[0]["extra"], back[0]["extra"]
    assert front_extra["item"] == back_extra["item"]
    assert (front_extra["option"], front_extra["option_group"]) == ("Left", "Men's")
    side = {so["name"]: so for so in params["items"][front_extra["item"]]["params"]["smart_objects"]}
    assert side["Chest"]["asset"]["object_key"] != side["Back"]["asset"]["object_key"]
    # Colour on the garment, artwork in the chest, the back's file on the back.
    shirt = params["items"][front[1]["item"]]["params"]
    objects = {so["name"]: so for so in shirt["smart_objects"]}
    assert objects["Body"]["color"]["hex"] == "#112233" and "asset" not in objects["Body"]
    assert objects["Chest"]["asset"]["object_key"] == params["files"][0]["object_key"]
    # One print file per placement and print file: variant 12 has its own for the front.
    printfiles = [(p["placement"], p["printfile_id"], p["variant_ids"]) for p in params["printfiles"]]
    assert printfiles == [("front", 1, [11, 13]), ("front", 2, [12]), ("back", 1, [11, 12, 13])]
    assert sorted(params["artwork_keys"]) == sorted(f["object_key"] for f in params["files"])


def test_a_file_without_a_position_renders_apart_for_variants_with_other_print_files():
    params = generation_params(product(), BY_UUID, request(file("front"), variant_ids=(11, 12), options=["Front"]))
    assert [group["variant_ids"] for group in params["mockups"]] == [[11], [12]]
    fits = [params["items"][group["item"]]["params"]["smart_objects"][0]["asset"]["fit"]
            for group in params["mockups"]]
    assert fits == ["contain", "cover"]


def test_a_variant_given_twice_is_generated_once():
    params = generation_params(product(), BY_UUID, request(file("back"), variant_ids=(11, 11), options=["Back"]))
    assert [group["variant_ids"] for group in params["mockups"]] == [[11]]
    assert [p["variant_ids"] for p in params["printfiles"]] == [[11]]


def test_a_placement_without_a_file_is_rendered_empty():
    params = generation_params(product(), BY_UUID, request(file("back"), variant_ids=(11,)))
    assert [params["items"][group["item"]]["params"]["mockup_uuid"] for group in params["mockups"]] == \
        ["shirt-back"]
    side = params["items"][params["mockups"][0]["extra"][0]["item"]]["params"]
    assert side["mockup_uuid"] == "shirt-side"
    objects = {so["name"]: so for so in side["smart_objects"]}
    assert objects["Chest"]["asset"] == {"empty": True}
    assert objects["Back"]["asset"]["object_key"] == params["files"][0]["object_key"]
    # The front view shows no back: it is not rendered at all.
    assert all(item["params"]["mockup_uuid"] != "shirt" for item in params["items"])


@pytest.mark.parametrize("body, words", [
    (request(file("front"), variant_ids=(11, 99)), "99"),
    (request(file("sleeve")), "sleeve"),
    (request(file("front"), file("front")), "once"),
    (request(file("front"), file("front_wide")), "same smart object"),
    (request(file("front"), options=["Right"]), "Right"),
    (request(file("front"), option_groups=["Kids"]), "Kids"),
    (request(file("back"), options=["Front"]), "nothing to generate"),
])
def test_requests_the_product_cannot_serve_are_refused(body, words):
    with pytest.raises(GenerationError, match=words):
        generation_params(product(), BY_UUID, body)


def _record(key: str, status: str, *, params=None, error=None, index=None, object_key=None):
    from shared.tasks import TaskRecord

    result = {"print_files": [{"object_key": object_key}]} if object_key else None
    return TaskRecord(key=key, kind="k", status=status, params=params or {}, result=result, error=error, attempts=1,
                      created_at=NOW, started_at=NOW, finished_at=NOW if status in ("completed", "failed") else None,
                      item_index=index, parent_key="parent" if index is not None else None)


def test_the_task_answer_maps_items_to_printful_mockups_and_fails_with_any_item():
    from shared.printful import task_result

    position = {"area_width": 600, "area_height": 800, "width": 300, "height": 300, "top": 0, "left": 0}
    params = generation_params(product(), BY_UUID, request(file("back", position), variant_ids=(11, 13)))
    items = [_record(f"item-{i}", "completed", params=item["params"], index=i, object_key=f"results/{i}.jpg")
             for i, item in enumerate(params["items"])]
    parent = _record("0d6f1c52-1111-4e4e-9e9e-000000000001", "completed", params=params)
    answer = task_result(parent, items, sign=lambda key: f"signed:{key}")
    assert answer["task_key"] == "gt-0d6f1c52-1111-4e4e-9e9e-000000000001" and answer["status"] == "completed"
    assert [(m["variant_ids"], m["mockup_url"], [e["url"] for e in m["extra"]]) for m in answer["mockups"]] == [
        ([11], f"signed:results/{params['mockups'][0]['item']}.jpg",
         [f"signed:results/{params['mockups'][0]['extra'][0]['item']}.jpg"]),
        ([13], f"signed:results/{params['mockups'][1]['item']}.jpg",
         [f"signed:results/{params['mockups'][1]['extra'][0]['item']}.jpg"])]
    assert answer["printfiles"] == [{"variant_ids": [11, 13], "placement": "back",
                                     "url": f"signed:results/{params['printfiles'][0]['item']}.jpg"}]

    # One item failed: the whole task is failed, naming it.
    items[1] = _record("item-1", "failed", params=params["items"][1]["params"], index=1, error="boom")
    failed = task_result(parent, items, sign=lambda key: key)
    assert failed["status"] == "failed" and "boom" in failed["error"] and "mockups" not in failed
    # Still running: pending, whatever its items say.
    assert task_result(_record(parent.key, "processing", params=params), items[:1], sign=str)["status"] == "pending"
    # Expired results: failed, saying so.
    expired = task_result(parent, [items[0]], sign=str, expired="the results of this task have expired")
    assert expired == {"task_key": answer["task_key"], "status": "failed",
                       "error": "the results of this task have expired"}
