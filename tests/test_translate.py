"""translate.py's TranslationPlan: the defaults it collects, its status line, and translate_image with it."""

from dataclasses import FrozenInstanceError, replace

import numpy as np
import pytest
import torch
from torch import nn

from stylegan_lib import cyclegan, siamese, translate


def small_siamese() -> siamese.Generator:
    torch.manual_seed(0)
    return siamese.Generator(siamese.SiameseConfig(tile=16, ngf=4, n_blocks=2)).eval()


def small_cyclegan() -> nn.Module:
    torch.manual_seed(1)
    return cyclegan.Generator(cyclegan.CycleGANConfig(ngf=4, n_blocks=2)).eval()


def test_plan_collects_the_default_helpers():
    G = small_siamese()
    plan = translate.plan_translation("siamese", G, 16, norm="image", device="cpu", tile_batch=64)
    context = translate.default_context(G)
    assert plan == translate.TranslationPlan(
        method="siamese",
        tile=translate.default_tile("siamese", 16, norm="image", device="cpu"),
        overlap=0,
        batch=translate.window_batch(64, tile=16, window=plan.tile + 2 * context),
        context=context,
        norm="image",
        whole_frame_pixels=translate.whole_frame_pixels("siamese", "cpu", norm="image"),
        device="cpu",
    )
    tiles = translate.plan_translation("siamese", G, 16, norm="tile", device="cpu")
    assert (tiles.tile, tiles.overlap, tiles.batch, tiles.context, tiles.whole_frame_pixels) == (16, 0, 16, 0, 0)
    C = small_cyclegan()
    own = translate.plan_translation("cyclegan", C, 512, norm="tile", device="cpu")
    assert own.overlap == translate.CYCLEGAN_OVERLAP and own.batch == translate.CYCLEGAN_BATCH["cpu"]
    forced = translate.plan_translation("cyclegan", C, 512, norm="tile", device="cpu", tile=128, overlap=8, batch=3)
    assert (forced.tile, forced.overlap, forced.batch, forced.whole_frame_pixels) == (128, 8, 3, 0)
    with pytest.raises(FrozenInstanceError):
        plan.tile = 8


def test_describe_and_plain_tile_say_how_g_runs():
    G = small_siamese()
    plan = translate.plan_translation("siamese", G, 16, norm="image", device="cpu")
    assert plan.describe(100, 100) == "the whole frame at once, the whole photo's statistics"
    assert plan.plain_tile(100, 100) is None
    tiled = replace(plan, whole_frame_pixels=0)
    assert tiled.describe(100, 100) == (
        f"{tiled.tile}-px tiles with {tiled.context} px of context, the whole photo's statistics"
    )
    assert tiled.plain_tile(100, 100) == tiled.tile
    own = translate.plan_translation("siamese", G, 16, norm="tile", device="cpu", overlap=4)
    assert own.describe(100, 100) == "16-px tiles, 4-px overlap" and own.plain_tile(100, 100) is None


def test_translate_image_with_a_plan_equals_its_keywords():
    G = small_siamese()
    photo = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    for norm in ("image", "tile"):
        plan = replace(translate.plan_translation("siamese", G, 16, norm=norm, device="cpu"), whole_frame_pixels=0)
        keywords = dict(tile=plan.tile, overlap=plan.overlap, batch=plan.batch, context=plan.context, norm=norm,
                        whole_frame_pixels=0, device="cpu")  # fmt: skip
        planned = translate.translate_image(G, photo, plan)
        spelled_out = translate.translate_image(G, photo, **keywords)
        assert np.array_equal(planned, spelled_out)
    with pytest.raises(TypeError, match="plan or tile, batch, not both"):
        translate.translate_image(G, photo, plan, tile=16, batch=2)
    with pytest.raises(TypeError, match="needs a plan"):
        translate.translate_image(G, photo)
