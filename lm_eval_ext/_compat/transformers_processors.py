"""transformers' table of processor classes per model type (``processing_auto``, not exported).

Checked on transformers 5.24: ``PROCESSOR_MAPPING_NAMES`` maps ``config.model_type`` to the
processor class name.
"""

from __future__ import annotations

from lm_eval_ext._compat._seam import Seam


def processor_class_for(model_type: str) -> str:
    """The name of the processor class transformers uses for ``model_type``."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    return PROCESSOR_MAPPING_NAMES[model_type]


def _check_mapping() -> None:
    for model_type in ("qwen2_vl", "qwen2_5_vl"):
        name = processor_class_for(model_type)
        assert name.endswith("Processor"), f"processor of {model_type}: {name!r}"


SEAMS = [
    Seam(
        "transformers.models.auto.processing_auto.PROCESSOR_MAPPING_NAMES",
        "the processor class of a Qwen-VL checkpoint without torchvision (models.vl_processor)",
        _check_mapping,
    ),
]
