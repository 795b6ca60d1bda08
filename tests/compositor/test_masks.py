"""Which stored channel holds a layer's user mask (compositor.masks)."""
from __future__ import annotations

from types import SimpleNamespace

from psd_tools.constants import ChannelID

from compositor.masks import user_mask


def fake_layer(channels, rendered_from_path=True, vector_mask=True, real_disabled=False):
    """Just what `user_mask` reads of a psd-tools pixel layer with a mask record."""
    flags = SimpleNamespace(user_mask_from_render=rendered_from_path, mask_disabled=False, parameters_applied=False)
    has_real = ChannelID.REAL_USER_LAYER_MASK in channels
    data = SimpleNamespace(
        flags=flags,
        real_flags=SimpleNamespace(mask_disabled=real_disabled, parameters_applied=False) if has_real else None,
        real_left=0 if has_real else None, real_top=0, real_right=8, real_bottom=6, real_background_color=255)
    mask = SimpleNamespace(_data=data, bbox=(2, 2, 5, 5), background_color=0, disabled=False,
                           has_real=lambda: False)
    return SimpleNamespace(
        mask=mask,
        vector_mask=SimpleNamespace(disabled=False) if vector_mask else None,
        tagged_blocks={},
        _record=SimpleNamespace(channel_info=[SimpleNamespace(id=c) for c in channels]),
    )


MASK_2 = [ChannelID.TRANSPARENCY_MASK, ChannelID.USER_LAYER_MASK]
MASK_2_AND_3 = MASK_2 + [ChannelID.REAL_USER_LAYER_MASK]


def test_path_rendered_into_channel_2_alone_means_no_user_mask():
    assert user_mask(fake_layer(MASK_2)) is None


def test_user_mask_beside_a_path_is_channel_3_with_its_own_box_and_background():
    stored = user_mask(fake_layer(MASK_2_AND_3))
    assert stored.channel == ChannelID.REAL_USER_LAYER_MASK
    assert stored.box == (0, 0, 8, 6) and stored.background == 1.0 and not stored.disabled


def test_user_mask_beside_a_path_can_be_off_on_its_own():
    assert user_mask(fake_layer(MASK_2_AND_3, real_disabled=True)).disabled


def test_without_a_path_channel_2_is_the_user_mask():
    stored = user_mask(fake_layer(MASK_2, rendered_from_path=False, vector_mask=False))
    assert stored.channel == ChannelID.USER_LAYER_MASK
    assert stored.box == (2, 2, 5, 5) and stored.background == 0.0
