"""Load a vision-language processor, also where its video processor cannot be built.

``AutoProcessor`` builds every sub-processor a checkpoint declares. Qwen-VL processors declare
a video processor that needs torchvision, which is missing or broken on many CPU machines
(``ImportError: Qwen2VLVideoProcessor requires the Torchvision library``). Image evaluation does
not need it, so on that error we build the same processor class without the video part, from the
checkpoint's own image processor (the PIL backend), tokenizer and chat template.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lm_eval_ext._compat.transformers_processors import processor_class_for
from lm_eval_ext.errors import CheckpointError

logger = logging.getLogger(__name__)

IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def check_processor_files(pretrained: str) -> None:
    """Raise :class:`CheckpointError` when a local checkpoint has no image-processor config."""
    path = Path(pretrained).expanduser()
    if not path.is_dir():
        return  # a hub id: transformers reports download errors itself
    if not any((path / name).is_file() for name in IMAGE_PROCESSOR_FILES):
        raise CheckpointError(
            f"pretrained={pretrained}: no preprocessor_config.json (image processor) in the "
            "directory, so images cannot be prepared; copy the processor files of the base "
            "model (preprocessor_config.json, tokenizer files, chat template) into it"
        )


def image_only_class(processor_cls: type) -> type:
    """``processor_cls`` restricted to image processor + tokenizer (no video processor)."""

    class ImageOnlyProcessor(processor_cls):  # type: ignore[misc, valid-type]
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(
                image_processor=image_processor,
                tokenizer=tokenizer,
                video_processor=None,
                chat_template=chat_template,
                **kwargs,
            )

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = processor_cls.__name__
    return ImageOnlyProcessor


def _processor_class_name(pretrained: str, model_type: str) -> str:
    for name in IMAGE_PROCESSOR_FILES:
        file = Path(pretrained) / name
        if file.is_file():
            declared = json.loads(file.read_text()).get("processor_class")
            if declared:
                return declared
    return processor_class_for(model_type)


def load_image_only_processor(pretrained: str, model_type: str, **kwargs: Any):
    """Build the checkpoint's processor class from its image processor and tokenizer only."""
    import transformers
    from transformers import AutoImageProcessor, AutoTokenizer

    cls = getattr(transformers, _processor_class_name(pretrained, model_type))
    image_processor = AutoImageProcessor.from_pretrained(pretrained, **kwargs)
    hub_kwargs = {k: v for k, v in kwargs.items() if k in ("revision", "trust_remote_code")}
    tokenizer = AutoTokenizer.from_pretrained(pretrained, **hub_kwargs)
    return image_only_class(cls)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template
    )


def load_vl_processor(pretrained: str, model_type: str, **kwargs: Any):
    """``AutoProcessor.from_pretrained``, falling back to an image-only processor.

    Args:
        pretrained: checkpoint directory or hub id holding the processor files.
        model_type: ``config.model_type`` (picks the processor class when no file names it).
        **kwargs: ``revision``, ``trust_remote_code``, ``min_pixels``/``max_pixels``, ...
    """
    from transformers import AutoProcessor

    check_processor_files(pretrained)
    try:
        return AutoProcessor.from_pretrained(pretrained, **kwargs)
    except (ImportError, OSError) as exc:  # no torchvision, or no video processor config
        logger.info("AutoProcessor failed (%s); loading the image-only processor", exc)
        return load_image_only_processor(pretrained, model_type, **kwargs)
