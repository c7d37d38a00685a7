"""MGM's image preparation with PIL and torch only (no torchvision).

As MGM's eval scripts do: pad the image to a square with the mean colour (``image_aspect_ratio:
pad``), CLIP-preprocess it at ``image_size_aux`` (bicubic resize of the shortest edge, centre crop,
scale to [0, 1], normalise with CLIP's mean/std) for the high-res tower, and bilinearly downsample
that normalised tensor to CLIP's input size for the low-res tower. In HD mode
(``image_grid > 1``) the CLIP input is the global view and the crops (``mining.hd_views``).
Without a high-res tower the image is preprocessed at CLIP's size directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lm_eval_ext.models.mgm.config import MGMSettings
from lm_eval_ext.models.mgm.mining import hd_views
from lm_eval_ext.models.mgm.modeling import ImageInput

#: OpenAI CLIP's normalisation (``openai/clip-vit-large-patch14-336``'s preprocessor config).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def expand_to_square(image: Any, fill: tuple[int, ...]) -> Any:
    """``image`` centred on a square canvas of its longer side, filled with ``fill``."""
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def clip_preprocess(image: Any, size: int, mean: tuple, std: tuple) -> torch.Tensor:
    """CLIP preprocessing: shortest edge -> ``size`` (PIL bicubic), centre crop, normalise."""
    from PIL import Image

    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    new_size = (size, new_long) if width <= height else (new_long, size)
    resized = image.resize(new_size, resample=Image.Resampling.BICUBIC)
    left, top = (resized.size[0] - size) // 2, (resized.size[1] - size) // 2
    cropped = resized.crop((left, top, left + size, top + size))
    array = np.asarray(cropped, dtype=np.float32) * np.float32(1 / 255)
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def read_clip_normalisation(tower: str | None) -> tuple[tuple, tuple]:
    """CLIP mean/std from a local tower dir's ``preprocessor_config.json``, else OpenAI's."""
    if tower:
        file = Path(tower).expanduser() / "preprocessor_config.json"
        if file.is_file():
            data = json.loads(file.read_text())
            return tuple(data.get("image_mean", CLIP_MEAN)), tuple(data.get("image_std", CLIP_STD))
    return CLIP_MEAN, CLIP_STD


@dataclass(frozen=True)
class MGMImageProcessor:
    """Turns PIL images into :class:`ImageInput` for one MGM config."""

    settings: MGMSettings
    low_size: int
    mean: tuple = CLIP_MEAN
    std: tuple = CLIP_STD

    def fill_colour(self) -> tuple[int, ...]:
        """The padding colour: the mean colour in 0..255 (MGM: ``int(x * 255)``)."""
        return tuple(int(x * 255) for x in self.mean)

    def __call__(self, image: Any) -> ImageInput:
        """Prepare one PIL image (RGB)."""
        image = image.convert("RGB")
        if self.settings.image_aspect_ratio == "pad":
            image = expand_to_square(image, self.fill_colour())
        settings = self.settings
        if not settings.has_aux:
            return ImageInput(
                clip_preprocess(image, self.low_size, self.mean, self.std)[None], None
            )
        aux = clip_preprocess(image, settings.image_size_aux, self.mean, self.std)
        if settings.image_grid > 1:
            views = hd_views(aux, self.low_size, settings.image_grid, settings.image_global)
        else:
            views = F.interpolate(
                aux[None], size=(self.low_size,) * 2, mode="bilinear", align_corners=False
            )
        return ImageInput(views, aux)
