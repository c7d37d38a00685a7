"""Reports over sweeps and plain lm-eval outputs: tables, learning curves, paired statistics.

The public face of the report layer (the CLI imports only this). Reads results and samples
files as lm-eval writes them (and the ``cell.json`` / ``sweep.json`` a sweep adds), so it
needs no model and no GPU. Names are imported on first use.
"""

from __future__ import annotations

from lm_eval_ext._lazy import lazy_exports

#: public name -> module that defines it
_EXPORTS = {
    "Comparison": "lm_eval_ext.report.build",
    "Report": "lm_eval_ext.report.build",
    "build_report": "lm_eval_ext.report.build",
    "resolve_checkpoint": "lm_eval_ext.report.build",
    "ResultsEntry": "lm_eval_ext.report.collect",
    "find_entries": "lm_eval_ext.report.collect",
    "long_table": "lm_eval_ext.report.collect",
    "PairedResult": "lm_eval_ext.report.paired",
    "compare_checkpoints": "lm_eval_ext.report.paired",
    "mcnemar_exact": "lm_eval_ext.report.paired",
    "paired_bootstrap_ci": "lm_eval_ext.report.paired",
    "paired_comparison": "lm_eval_ext.report.paired",
    "unpaired_z_test": "lm_eval_ext.report.paired",
    "comparison_frame": "lm_eval_ext.report.tables",
    "markdown_table": "lm_eval_ext.report.tables",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
