"""Patch info mining and the ConvNeXt tower against independent computations."""

from __future__ import annotations

import math

import torch
from torch import nn

from lm_eval_ext.models.mgm.convnext import ConvNeXtTower, convnext_shape
from lm_eval_ext.models.mgm.mining import hd_aux_maps, hd_views, mine


def _ln_linear(d_in: int, d_out: int) -> nn.Sequential:
    layer = nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, d_out))
    with torch.no_grad():
        layer[0].weight.uniform_(0.5, 1.5)
        layer[0].bias.normal_()
    return layer


def mining_by_loops(tokens, aux, q_proj, k_proj, v_proj):
    """The paper's Eq. 1, one token at a time: softmax(q k^T / sqrt(d)) v over its own window."""
    b, n, d = tokens.shape
    side = math.isqrt(n)
    p = aux.shape[-1] // side
    out = torch.zeros(b, n, d)
    for bi in range(b):
        for row in range(side):
            for col in range(side):
                window = aux[bi, :, row * p : (row + 1) * p, col * p : (col + 1) * p]
                pixels = window.reshape(aux.shape[1], -1).T  # [p*p, C], row-major
                q = q_proj(tokens[bi, row * side + col])
                k, v = k_proj(pixels), v_proj(pixels)
                weights = torch.softmax(k @ q / math.sqrt(k.shape[-1]), dim=0)
                out[bi, row * side + col] = (weights[:, None] * v).sum(0)
    return out


def test_mining_equals_the_per_token_loop():
    torch.manual_seed(0)
    d, c = 6, 5
    tokens, aux = torch.randn(2, 9, d), torch.randn(2, c, 12, 12)  # 3x3 tokens, 4x4 windows
    q, k, v = _ln_linear(d, d), _ln_linear(c, d), _ln_linear(c, d)
    with torch.no_grad():
        ours = mine(tokens, aux, q, k, v)
        ref = mining_by_loops(tokens, aux, q, k, v)
    assert ours.shape == (2, 9, d)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_hd_views_and_maps_put_the_global_view_first_then_row_major_crops():
    torch.manual_seed(1)
    image = torch.randn(3, 16, 16)
    views = hd_views(image, low_size=4, grid=2, use_global=True)
    big = torch.nn.functional.interpolate(image[None], size=(8, 8), mode="bilinear")[0]
    crops = [big[:, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] for r in range(2) for c in range(2)]
    small = torch.nn.functional.interpolate(big[None], size=(4, 4), mode="bilinear")[0]
    torch.testing.assert_close(views, torch.stack([small, *crops]))
    aux = torch.randn(1, 5, 8, 8)
    maps = hd_aux_maps(aux, grid=2, use_global=True)
    blocks = [aux[0, :, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] for r in range(2) for c in range(2)]
    half = torch.nn.functional.interpolate(aux, size=(4, 4), mode="bilinear")[0]
    torch.testing.assert_close(maps, torch.stack([half, *blocks]))


def _hf_convnext(widths, depths):
    from transformers import ConvNextConfig, ConvNextModel

    return ConvNextModel(
        ConvNextConfig(
            hidden_sizes=widths, depths=depths, hidden_act="gelu", layer_scale_init_value=0.5
        )
    ).eval()


def _to_hf_key(key: str) -> str:
    """Our (timm's) ConvNeXt names -> transformers' ConvNextModel names, written out by hand."""
    renames = [
        ("vision_stem.0.", "embeddings.patch_embeddings."),
        ("vision_stem.1.", "embeddings.layernorm."),
        ("vision_stages.", "encoder.stages."),
        (".downsample.", ".downsampling_layer."),
        (".blocks.", ".layers."),
        (".conv_dw.", ".dwconv."),
        (".norm.", ".layernorm."),
        (".mlp.fc1.", ".pwconv1."),
        (".mlp.fc2.", ".pwconv2."),
    ]
    for old, new in renames:
        key = key.replace(old, new)
    return key.replace(".gamma", ".layer_scale_parameter")


def test_convnext_tower_equals_transformers_convnext():
    """Every stage of our tower matches transformers' independent ConvNeXt on the same weights."""
    widths, depths = [4, 8, 12, 16], [1, 2, 1, 1]
    torch.manual_seed(2)
    ours = ConvNeXtTower(widths, depths).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.3)
    hf = _hf_convnext(widths, depths)
    result = hf.load_state_dict(
        {_to_hf_key(k): v for k, v in ours.state_dict().items()}, strict=False
    )
    assert not result.unexpected_keys
    assert set(result.missing_keys) <= {"layernorm.weight", "layernorm.bias"}  # final norm unused
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        stages = hf(images, output_hidden_states=True).hidden_states[1:]
        out = ours(images)
    size = stages[0].shape[-2:]
    ref = torch.cat(
        [stages[0]]
        + [torch.nn.functional.interpolate(s, size=size, mode="bilinear") for s in stages[1:]],
        dim=1,
    )
    assert out.shape == (2, sum(widths), 16, 16)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_convnext_shape_is_read_from_the_tensors():
    tower = ConvNeXtTower([4, 8, 12, 16], [2, 1, 3, 1])
    assert convnext_shape((k, tuple(v.shape)) for k, v in tower.state_dict().items()) == (
        [4, 8, 12, 16],
        [2, 1, 3, 1],
    )
