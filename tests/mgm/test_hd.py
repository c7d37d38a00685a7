"""MGM-HD (``image_grid=2``, ``image_global``): global view first, then the crops, each mined
over its own block of the high-resolution map."""

from __future__ import annotations

import json
import shutil

import torch
import torch.nn.functional as F
from PIL import Image

from lm_eval_ext.models.mgm.images import MGMImageProcessor
from lm_eval_ext.models.mgm.loader import load_mgm
from lm_eval_ext.models.mgm.mining import mine


def test_hd_image_tokens_are_global_then_crops(mgm_world, tmp_path):
    hd = tmp_path / "tiny-mgm-2b-hd"
    shutil.copytree(mgm_world.gemma_dir, hd)
    config = json.loads((hd / "config.json").read_text())
    config.update(image_grid=2, image_global=True, image_size_aux=224)
    (hd / "config.json").write_text(json.dumps(config))
    model = load_mgm(str(hd))
    processor = MGMImageProcessor(model.settings, low_size=56)
    prepared = processor(Image.open(mgm_world.data_dir / "images/img1.png"))
    assert prepared.views.shape == (5, 3, 56, 56) and prepared.aux.shape == (3, 224, 224)
    assert model.tokens_per_image() == 5 * 16

    with torch.no_grad():
        tokens = model.image_tokens([prepared])[0]
        aux = model.vision_tower_aux(prepared.aux[None])  # [1, C, 56, 56]
        blocks = [
            aux[:, :, r * 28 : r * 28 + 28, c * 28 : c * 28 + 28] for r in (0, 1) for c in (0, 1)
        ]
        maps = [F.interpolate(aux, size=(28, 28), mode="bilinear"), *blocks]  # global first
        expected = []
        for view, aux_map in zip(prepared.views, maps, strict=True):
            clip = model.clip_tokens(view[None])
            mined = mine(
                clip,
                aux_map,
                model.vlm_uni_query_projector,
                model.vlm_uni_aux_projector,
                model.vlm_uni_val_projector,
            )
            expected.append(model.mm_projector(clip + mined)[0])
    torch.testing.assert_close(tokens, torch.cat(expected), atol=1e-5, rtol=1e-5)
