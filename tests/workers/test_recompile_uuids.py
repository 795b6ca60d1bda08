"""A recompile keeps the smart objects' uuids: render requests name them, and how a
release derives them may change (workers.ingest.describe_smart_objects)."""
from __future__ import annotations

import uuid

import pytest

from compositor.fixtures.demo import build_demo_template
from compositor.model import load_template
from compositor.plan import compile_template
from workers.ingest import describe_smart_objects

MOCKUP = "00000000-0000-4000-8000-000000000000"
# What an earlier release might have called the demo's one smart object.
EARLIER = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def compiled():
    psd = build_demo_template(200)
    template = load_template(psd)
    return template, compile_template(template, psd_bytes=psd)


def test_without_earlier_entries_the_uuids_are_the_stable_ones(compiled):
    first = describe_smart_objects(*compiled, MOCKUP)
    assert describe_smart_objects(*compiled, MOCKUP, previous=[]) == first
    assert describe_smart_objects(*compiled, MOCKUP, previous=first) == first


def test_an_earlier_uuid_is_kept_for_the_same_layer_with_its_preset(compiled):
    [fresh] = describe_smart_objects(*compiled, MOCKUP)
    earlier = [dict(fresh, uuid=EARLIER)]
    [kept] = describe_smart_objects(*compiled, MOCKUP, previous=earlier)
    assert kept["uuid"] == EARLIER
    assert kept["print_area_presets"][0]["uuid"] == str(uuid.uuid5(uuid.UUID(EARLIER), "full"))
    assert {k: v for k, v in kept.items() if k not in ("uuid", "print_area_presets")} == \
        {k: v for k, v in fresh.items() if k not in ("uuid", "print_area_presets")}


def test_entries_of_layers_that_are_gone_are_not_reused(compiled):
    [fresh] = describe_smart_objects(*compiled, MOCKUP)
    earlier = [dict(fresh, uuid=EARLIER, layer_name="Another layer", name="Another layer")]
    assert describe_smart_objects(*compiled, MOCKUP, previous=earlier) == [fresh]
