"""Patch info mining (MGM, arXiv 2403.18814, Sec. 3.2) and the HD views it runs on.

Each low-resolution visual token (a CLIP patch feature ``x``, the query) attends only over its
own ``p x p`` window of the high-resolution ConvNeXt map (``p`` = map side / token-grid side):

    q = Wq(LN(x)),  k_j = Wk(LN(h_j)),  v_j = Wv(LN(h_j))        (j in the token's window)
    mined = sum_j softmax_j(q . k_j / sqrt(d)) v_j                (d = the key width)
    token = x + mined

``Wq``/``Wk``/``Wv`` are ``vlm_uni_query_projector`` / ``vlm_uni_aux_projector`` /
``vlm_uni_val_projector`` (LayerNorm + Linear each); the paper's Eq. 1. MGM's code then takes a
mean over the query axis of the attention output, which has length one per token (a no-op),
and turns NaN scores into 0 before the softmax; both are kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def windows(aux: torch.Tensor, grid: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, grid², (H/grid)(W/grid), C]``: each token's window, row-major."""
    b, c, h, w = aux.shape
    ph, pw = h // grid, w // grid
    x = aux.permute(0, 2, 3, 1).reshape(b, grid, ph, grid, pw, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, grid * grid, ph * pw, c)


def mine(
    tokens: torch.Tensor,
    aux: torch.Tensor,
    query: nn.Module,
    key: nn.Module,
    value: nn.Module,
) -> torch.Tensor:
    """Patch info mining: ``tokens`` ``[B, N, D]`` (N a square) and ``aux`` ``[B, C, H, W]``.

    Returns the mined features ``[B, N, D]`` (to be added to ``tokens`` by the caller).
    """
    grid = round(tokens.shape[1] ** 0.5)
    if grid * grid != tokens.shape[1] or aux.shape[-1] % grid or aux.shape[-2] % grid:
        raise ValueError(
            f"patch info mining needs a square token grid dividing the high-res map: "
            f"{tokens.shape[1]} tokens, map {tuple(aux.shape[-2:])}"
        )
    win = windows(aux, grid)  # [B, N, P, C]
    q = query(tokens)  # [B, N, D]
    k = key(win)  # [B, N, P, D]
    v = value(win)
    att = q[:, :, None] @ (k.transpose(-1, -2) / k.shape[-1] ** 0.5)  # [B, N, 1, P]
    att = att.nan_to_num()
    return (att.softmax(-1) @ v).mean(2)


def hd_views(images_aux: torch.Tensor, low_size: int, grid: int, use_global: bool) -> torch.Tensor:
    """The CLIP inputs of one HD image, ``[V, 3, low, low]``: global view first, then crops.

    ``images_aux`` is the normalised high-res image ``[3, S, S]``. As MGM: it is resized
    bilinearly to ``grid*low``, cut into ``grid x grid`` crops (row-major), and the global view is
    that resized image brought down to ``low``.
    """
    big = F.interpolate(
        images_aux[None].float(), size=(grid * low_size,) * 2, mode="bilinear", align_corners=False
    )
    crops = big.reshape(3, grid, low_size, grid, low_size).permute(1, 3, 0, 2, 4)
    views = [crops.reshape(grid * grid, 3, low_size, low_size)]
    if use_global:
        small = F.interpolate(big, size=(low_size,) * 2, mode="bilinear", align_corners=False)
        views.insert(0, small)
    return torch.cat(views).to(images_aux.dtype)


def hd_aux_maps(aux: torch.Tensor, grid: int, use_global: bool) -> torch.Tensor:
    """The high-res maps matching :func:`hd_views`: ``[1, C, H, W]`` -> ``[V, C, H/g, W/g]``.

    Crop ``(r, c)`` gets block ``(r, c)`` of the map; the global view gets the whole map
    bilinearly downscaled by ``grid``.
    """
    _, c, h, w = aux.shape
    blocks = aux.reshape(c, grid, h // grid, grid, w // grid).permute(1, 3, 0, 2, 4)
    maps = [blocks.reshape(grid * grid, c, h // grid, w // grid)]
    if use_global:
        small = F.interpolate(
            aux.float(), scale_factor=1 / grid, mode="bilinear", align_corners=False
        ).to(aux.dtype)
        maps.insert(0, small)
    return torch.cat(maps)
