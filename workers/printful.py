"""The Printful-compatible mockup generator's task (shared/printful.py makes its params).

One task renders, in sequence, every mockup and print file a create-task request
asked for, through the same functions as render.mockup and render.print_files
tasks. Each render and print file in the params is self-contained (its own plan
key, smart objects and artwork URL), so they could as well run as separate tasks;
the artwork of each file is downloaded once and shared by all of them.
"""
from __future__ import annotations

import io
from typing import Any

from PIL import Image

from shared import safefetch, tasks
from shared.errors import InvalidInput
from shared.storage import get_storage
from workers.celery_app import GENERATE_PRINTFUL_MOCKUPS_TASK, app
from workers.render import RecordedTask, placement_options, print_file_bytes, render_mockup_file, run_task

PRINT_FILE_FORMAT = "png"


def _transparent_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


class ArtworkFetcher:
    """Assets' bytes: each URL downloaded once (safefetch's rules); `{"empty": true}`
    is a transparent pixel, so that a placement without a file shows nothing rather
    than the template's placeholder."""

    def __init__(self):
        self._fetched: dict[str, bytes] = {}
        self._policy = safefetch.FetchPolicy.from_env()

    def __call__(self, index: int, asset: dict[str, Any]) -> bytes:
        if asset.get("empty"):
            return _transparent_png()
        url = asset["url"]
        if url not in self._fetched:
            try:
                self._fetched[url] = safefetch.fetch(url, self._policy,
                                                     max_bytes=self._policy.max_asset_bytes).content
            except safefetch.FetchError as exc:
                raise InvalidInput(f"the image_url {url} could not be downloaded "
                                   f"(HTTP {exc.http_status} class): {exc}") from None
        return self._fetched[url]


def _generate(record: tasks.TaskRecord) -> dict[str, Any]:
    params = record.params
    fetch = ArtworkFetcher()
    storage = get_storage()
    files, objects = [], {}
    for render in params["renders"]:
        extension = {"jpeg": "jpg"}.get(params["format"], params["format"])
        key = f"results/{record.key}-{render['id']}.{extension}"
        try:
            stored = render_mockup_file(render, key, fetch)
        except InvalidInput as exc:
            raise InvalidInput(f"mockup {render['id']}: {exc}") from None
        files.append({**stored, "name": render["id"]})
        objects[render["id"]] = key
    for printfile in params["printfiles"]:
        item = printfile["item"]
        try:
            data = fetch(0, item["asset"])
            output, size = print_file_bytes(0, item, data, placement_options(0, item), dpi=item["dpi"],
                                            image_format=PRINT_FILE_FORMAT)
        except InvalidInput as exc:
            raise InvalidInput(f"print file of placement {printfile['placement']!r}: {exc}") from None
        key = f"results/{record.key}-{printfile['id']}.{PRINT_FILE_FORMAT}"
        storage.put_bytes(key, output, "image/png")
        files.append({"object_key": key, "format": PRINT_FILE_FORMAT, "content_type": "image/png",
                      "bytes": len(output), "width": size[0], "height": size[1], "name": printfile["id"]})
        objects[printfile["id"]] = key
    # `print_files` lists every object (the cleanup of expired results deletes them);
    # `objects` finds each by the name the params give it.
    return {"print_files": files, "objects": objects, "product_id": params["product_id"]}


@app.task(name=GENERATE_PRINTFUL_MOCKUPS_TASK, base=RecordedTask)
def generate_printful_mockups(task_key: str) -> str:
    """Every mockup and print file of a /mockup-generator/create-task request."""
    return run_task(task_key, _generate)
