"""Multi-checkpoint sweeps: a manifest of cells (checkpoint x task group [x shard]), one
``lm_eval`` each.

The public face of the sweep layer (the CLI imports only this). A sweep's cells run as
``lm_eval`` subprocesses with the resume journal switched on (``journal=`` added to every
cell's ``--model_args``), locally one at a time or one per device, on Slurm as a job array, or
under any scheduler from the printed commands; with shards, each group's shards are merged
once all are done. Names are imported on first use.
"""

from __future__ import annotations

from lm_eval_ext._lazy import lazy_exports

#: public name -> module that defines it
_EXPORTS = {
    # the checkpoints
    "CheckpointSpec": "lm_eval_ext.sweep.sources",
    "adapter_checkpoints": "lm_eval_ext.sweep.sources",
    "base_checkpoint": "lm_eval_ext.sweep.sources",
    "checkpoints_from_file": "lm_eval_ext.sweep.sources",
    "hub_revision_pattern": "lm_eval_ext.sweep.sources",
    "hub_revisions": "lm_eval_ext.sweep.sources",
    "local_checkpoints": "lm_eval_ext.sweep.sources",
    "order_checkpoints": "lm_eval_ext.sweep.sources",
    # the manifest and the cells' commands
    "Cell": "lm_eval_ext.sweep.manifest",
    "Manifest": "lm_eval_ext.sweep.manifest",
    "SweepSpec": "lm_eval_ext.sweep.manifest",
    "load_manifest": "lm_eval_ext.sweep.manifest",
    "plan_manifest": "lm_eval_ext.sweep.manifest",
    "write_manifest": "lm_eval_ext.sweep.manifest",
    "cell_command": "lm_eval_ext.sweep.commands",
    "check_pass_through": "lm_eval_ext.sweep.commands",
    "default_lm_eval_cmd": "lm_eval_ext.sweep.commands",
    "default_merge_cmd": "lm_eval_ext.sweep.commands",
    "merge_command": "lm_eval_ext.sweep.commands",
    "parse_model_args": "lm_eval_ext.sweep.commands",
    # shards
    "ShardGroup": "lm_eval_ext.sweep.shards",
    "pending_cells": "lm_eval_ext.sweep.shards",
    "planned_commands": "lm_eval_ext.sweep.shards",
    "shard_groups": "lm_eval_ext.sweep.shards",
    "MergeOutcome": "lm_eval_ext.sweep.merging",
    "merge_group": "lm_eval_ext.sweep.merging",
    # running
    "CellOutcome": "lm_eval_ext.sweep.runner",
    "group_outcomes": "lm_eval_ext.sweep.runner",
    "run_cell": "lm_eval_ext.sweep.runner",
    "run_sweep": "lm_eval_ext.sweep.runner",
    "read_done": "lm_eval_ext.sweep.cells",
    # Slurm, submitit
    "slurm_script": "lm_eval_ext.sweep.slurm",
    "submit_script": "lm_eval_ext.sweep.slurm",
    "write_slurm_script": "lm_eval_ext.sweep.slurm",
    "submit_with_submitit": "lm_eval_ext.sweep.submitit_launch",
    # status
    "format_sweep_status": "lm_eval_ext.sweep.status",
    "is_sweep": "lm_eval_ext.sweep.status",
    "sweep_status": "lm_eval_ext.sweep.status",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
