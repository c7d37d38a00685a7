"""MGM's high-resolution tower: a ConvNeXt whose parameter names are MGM's checkpoint keys.

MGM takes open_clip's ConvNeXt (a timm trunk) and keeps its stem and four stages, under
``vision_tower_aux.vision_stem.*`` and ``vision_tower_aux.vision_stages.{i}.*``. timm and
open_clip need torchvision, so the tower is written here from the ConvNeXt paper (Liu et al.
2022) with the same module names: a 4x4/4 patchify conv + LayerNorm stem; per stage an optional
LayerNorm + 2x2/2 conv downsample, then blocks of depthwise 7x7 conv -> LayerNorm -> Linear ->
GELU (exact) -> Linear -> layer scale ``gamma`` -> residual. LayerNorm eps is 1e-6 (timm's).
Widths and depths are read from the checkpoint's tensors (:func:`convnext_shape`).

The output is MGM's: every stage's map bilinearly resized to the first stage's resolution and
concatenated on channels (2880 channels for ConvNeXt-L: 192+384+768+1536). Always eval mode:
stochastic depth is not built at all (MGM's own builder leaves it active during evaluation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from lm_eval_ext.errors import CheckpointError

LN_EPS = 1e-6
_BLOCK_KEY = re.compile(r"vision_stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.weight$")


class ChannelsFirstLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of an NCHW map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each pixel's channel vector."""
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtMlp(nn.Module):
    """The block's pointwise MLP (``fc1`` -> GELU -> ``fc2``), on channels-last input."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """fc2(gelu(fc1(x)))."""
        return self.fc2(F.gelu(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    """x + gamma * mlp(norm(dwconv7x7(x)))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = ConvNeXtMlp(dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One residual ConvNeXt block."""
        y = self.conv_dw(x).permute(0, 2, 3, 1)
        y = self.mlp(self.norm(y)) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtStage(nn.Module):
    """Optional downsample (LayerNorm + 2x2 stride-2 conv), then the blocks."""

    def __init__(self, in_dim: int, dim: int, depth: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = (
            nn.Sequential(
                ChannelsFirstLayerNorm(in_dim, eps=LN_EPS),
                nn.Conv2d(in_dim, dim, kernel_size=2, stride=2),
            )
            if downsample
            else nn.Identity()
        )
        self.blocks = nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Downsample, then every block."""
        return self.blocks(self.downsample(x))


class ConvNeXtTower(nn.Module):
    """MGM's auxiliary tower: stem + stages, features of all stages at stage-0 resolution."""

    def __init__(self, widths: list[int], depths: list[int], in_chans: int = 3) -> None:
        super().__init__()
        self.widths = list(widths)
        self.vision_stem = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], kernel_size=4, stride=4),
            ChannelsFirstLayerNorm(widths[0], eps=LN_EPS),
        )
        dims_in = [widths[0], *widths[:-1]]
        self.vision_stages = nn.ModuleList(
            ConvNeXtStage(d_in, d, n, downsample=i > 0)
            for i, (d_in, d, n) in enumerate(zip(dims_in, widths, depths, strict=True))
        )

    @property
    def hidden_size(self) -> int:
        """Channels of the output map (sum of the stage widths)."""
        return sum(self.widths)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S]`` -> ``[B, sum(widths), S/4, S/4]``: all stages, resized, concatenated."""
        x = self.vision_stem(images)
        outputs = []
        for stage in self.vision_stages:
            x = stage(x)
            outputs.append(x)
        size = outputs[0].shape[-2:]
        resized = [outputs[0]] + [
            F.interpolate(o.float(), size=size, mode="bilinear", align_corners=False).to(o.dtype)
            for o in outputs[1:]
        ]
        return torch.cat(resized, dim=1)


def convnext_shape(
    keys_shapes: Iterable[tuple[str, tuple[int, ...]]],
) -> tuple[list[int], list[int]]:
    """Stage widths and depths from ``(key, shape)`` pairs of the tower's tensors.

    Keys are relative to the tower (``vision_stages.{i}.blocks.{j}.conv_dw.weight``); the width
    of stage ``i`` is the output channels of its depthwise convs, its depth their count.
    """
    widths: dict[int, int] = {}
    depths: dict[int, int] = {}
    for key, shape in keys_shapes:
        match = _BLOCK_KEY.search(key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            widths[stage] = int(shape[0])
            depths[stage] = max(depths.get(stage, 0), block + 1)
    if not widths or sorted(widths) != list(range(len(widths))):
        raise CheckpointError(
            "the ConvNeXt tower's tensors (vision_tower_aux.vision_stages.{i}.blocks.{j}."
            f"conv_dw.weight) are missing or incomplete: found stages {sorted(widths)}"
        )
    order = sorted(widths)
    return [widths[i] for i in order], [depths[i] for i in order]
