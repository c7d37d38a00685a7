"""One evaluation in a fresh interpreter, so that a test can SIGKILL it part-way.

    python -m tests.support.eval_child --model hf --model_args "pretrained=M,journal=OUT/j" \\
        --tasks a,b --include_path DIR --out OUT [--metadata JSON] [--image_only_processor]

The same path as the ``lm_eval`` CLI from ``simple_evaluate`` on (``model_args`` as a string:
``create_from_arg_string``; results and samples saved by lm-eval's ``EvaluationTracker``), but
with only the given task directory indexed: an ``lm_eval`` start here spends ~20 s indexing
lm-eval's ~14,700 built-in tasks, this one does not. ``--image_only_processor``: Qwen-VL's
``AutoProcessor`` needs torchvision for its video processor, which this CPU test machine lacks;
the flag replaces ``AutoProcessor.from_pretrained`` with our image-only loader (the technique of
``tests/vlm/test_merged_cache_processor.py``) so ``hf-multimodal`` loads the tiny Qwen-VL.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

# before torch is imported (tests/conftest.py does the same for the test process)
os.environ.setdefault("OMP_NUM_THREADS", "1")


def image_only_from_pretrained(name: Any, **kwargs: Any) -> Any:
    """``AutoProcessor.from_pretrained`` as if Qwen-VL's video processor could be skipped."""
    import transformers

    from lm_eval_ext.models.vl_processor import load_image_only_processor

    model_type = transformers.AutoConfig.from_pretrained(name).model_type
    return load_image_only_processor(str(name), model_type, **kwargs)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, evaluate, save."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--model_args", required=True)
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--include_path", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metadata", default="{}")
    parser.add_argument("--batch_size", default="4")
    parser.add_argument("--image_only_processor", action="store_true")
    args = parser.parse_args(argv)
    if args.image_only_processor:
        import transformers

        transformers.AutoProcessor.from_pretrained = image_only_from_pretrained
    from tests.support.lm_eval_runs import evaluate_and_save

    evaluate_and_save(
        args.model_args,
        args.tasks.split(","),
        args.include_path,
        args.out,
        model=args.model,
        batch_size=int(args.batch_size),
        metadata=json.loads(args.metadata),
    )


if __name__ == "__main__":
    main()
