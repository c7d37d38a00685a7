"""Image inputs for VLM requests: loading, counting image tokens, truncating text around them.

Truncation happens on the *text* before the processor expands each image placeholder into its
image tokens: cutting the expanded ids (what lm-eval's ``hf-multimodal`` does) separates image
tokens from their pixel values and crashes with "Image features and image tokens do not match".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lm_eval_ext.errors import ImageLoadError, InputTooLongError

#: tokens never cut by truncation: they mark where images are.
VISION_MARKERS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def load_image(value: Any, source: str = "") -> Any:
    """A PIL image from a PIL image, a path, bytes, or a ``{"bytes"|"path": ...}`` dict.

    Raises:
        ImageLoadError: naming the file (or ``source``) when it cannot be opened or decoded.
    """
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    name = str(value) if isinstance(value, (str, Path)) else source or "<image bytes>"
    try:
        raw = BytesIO(value) if isinstance(value, (bytes, bytearray)) else Path(value)
        image = Image.open(raw)
        image.load()
    except (OSError, UnidentifiedImageError, TypeError, ValueError) as exc:
        raise ImageLoadError(f"cannot read image {name}: {exc}") from exc
    return image


def image_token_count(image_processor: Any, image: Any, pixels: dict[str, int]) -> int:
    """Number of tokens the processor will expand one image placeholder into."""
    merge = getattr(image_processor, "merge_size", 1) or 1
    if hasattr(image_processor, "get_number_of_image_patches"):
        patches = image_processor.get_number_of_image_patches(image.height, image.width, pixels)
        return int(patches) // (merge * merge)
    grid = image_processor(images=[image], return_tensors="pt")["image_grid_thw"][0]
    return int(grid.prod()) // (merge * merge)


def marker_ids(tokenizer: Any) -> set[int]:
    """Ids of the vision marker tokens this tokenizer knows."""
    vocab = tokenizer.get_vocab()
    return {vocab[tok] for tok in VISION_MARKERS if tok in vocab}


def fit_text(
    tokenizer: Any,
    text: str,
    image_tokens: Sequence[int],
    budget: int,
    image_token_id: int,
) -> str:
    """Left-truncate ``text`` so that, once images are expanded, it has at most ``budget`` tokens.

    Only text tokens are dropped (oldest first); vision markers stay, so every image keeps
    its placeholder. ``image_tokens`` holds each image's expanded token count, in order.

    Raises:
        InputTooLongError: when the images and markers alone exceed ``budget``.
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    n_placeholders = ids.count(image_token_id)
    expanded = len(ids) + sum(image_tokens[:n_placeholders]) - n_placeholders
    over = expanded - budget
    if over <= 0:
        return text
    keep = marker_ids(tokenizer)
    droppable = [i for i, tok in enumerate(ids) if tok not in keep]
    if len(droppable) < over:
        raise InputTooLongError(
            f"a request with {n_placeholders} image(s) needs {expanded} tokens but max_length "
            f"allows {budget}, and its images alone take {expanded - len(droppable)}; lower "
            "max_pixels or raise max_length"
        )
    dropped = set(droppable[:over])
    kept = [tok for i, tok in enumerate(ids) if i not in dropped]
    return tokenizer.decode(kept, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def image_digests(images: Iterable[Any]) -> list[str]:
    """SHA-256 of each image's PNG bytes (the digest lm-eval's own cache keys use)."""
    from lm_eval.utils import convert_pil_to_hash

    return [convert_pil_to_hash(img) for img in images]
