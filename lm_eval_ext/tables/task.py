"""``TableQATask``: lm-eval's ``ConfigurableTask`` that records skipped questions in its metadata.

The ``custom_dataset`` hooks cannot reach the task's config (lm-eval passes them a copy of the
metadata), so they hand questions skipped for missing files (``skip_missing_tables``) over in an
extra dataset split; this class moves them into ``config.metadata``, which lm-eval writes to
``results_*.json`` under ``configs.<task>.metadata``.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.task import ConfigurableTask

from lm_eval_ext.tables.hooks import SKIPPED_KEY, SKIPPED_SPLIT

__all__ = ["TableQATask"]


class TableQATask(ConfigurableTask):
    """The ``html_table_qa`` / ``realhitbench_*`` task class (``class:`` in the task YAML)."""

    def __init__(self, config: dict | None = None, **kwargs: Any) -> None:
        """Build the task exactly as lm-eval would (the ``class`` key is ours, not lm-eval's)."""
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)

    def download(self, dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Build the documents, then record the skipped questions and the doc counts."""
        super().download(dataset_kwargs, **kwargs)
        skipped = self.dataset.pop(SKIPPED_SPLIT, None)
        if skipped is None:
            return
        files = skipped.to_list()
        n_skipped = len({f["id"] for f in files})
        n_kept = len(self.dataset[self.config.test_split])
        if self.config.metadata is None:
            self.config.metadata = {}
        self.config.metadata[SKIPPED_KEY] = {
            "docs_total": n_kept + n_skipped,
            "docs_kept": n_kept,
            "docs_skipped": n_skipped,
            "files": files,
        }
