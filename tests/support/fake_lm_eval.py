"""A stand-in for the ``lm_eval`` CLI that sweep tests run as a cell's command (``--lm_eval_cmd``).

It reads the options a sweep passes (``--model_args`` with ``journal=``, ``--tasks``,
``--output_path``), holds the journal's lock while it "evaluates" exactly as lm_eval would
(a second process on the same journal stops with lm_eval's ``JournalLockedError`` message),
and writes lm-eval-shaped results + samples whose accuracy grows with the checkpoint's step.
With ``journal_shard=K/N`` the results carry the shard mark the journal adds
(``config.lm_eval_ext.shard``), as a real shard run's do.
Environment:

- ``FAKE_LM_EVAL_LOG``: append one JSON line per invocation (pid, output path, start, end);
- ``FAKE_LM_EVAL_SLEEP``: seconds to "evaluate" (default 0);
- ``FAKE_LM_EVAL_FAIL``: exit 3 when the output path contains this text.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
from pathlib import Path

from lm_eval_ext.checkpoints.naming import parse_checkpoint_name
from lm_eval_ext.demo.fake_results import fake_task_rows, write_fake_run


def accuracy_for(model_args: dict) -> float:
    """0.25 at step 0, rising with the step of the checkpoint (adapter, revision or dir)."""
    name = model_args.get("lora") or model_args.get("revision") or model_args["pretrained"]
    step = parse_checkpoint_name(name).step or 0
    return min(0.25 + step / 400, 0.95)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    for flag in ("--model", "--model_args", "--tasks", "--output_path", "--include_path"):
        parser.add_argument(flag)
    opts, _ = parser.parse_known_args(argv)
    model_args = dict(item.split("=", 1) for item in opts.model_args.split(","))
    journal = Path(model_args.pop("journal"))
    shard = model_args.pop("journal_shard", None)
    journal.mkdir(parents=True, exist_ok=True)
    lock = os.open(journal / "main.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(
            f"JournalLockedError: {journal}/main.lock: journal is in use by pid ?", file=sys.stderr
        )
        return 1
    start = time.time()
    time.sleep(float(os.environ.get("FAKE_LM_EVAL_SLEEP", "0")))
    if os.environ.get("FAKE_LM_EVAL_FAIL") and os.environ["FAKE_LM_EVAL_FAIL"] in opts.output_path:
        print("RuntimeError: CUDA out of memory (fake)", file=sys.stderr)
        return 3
    acc = accuracy_for(model_args)
    tasks = {t: fake_task_rows(t, 40, acc) for t in opts.tasks.split(",")}
    marks = {"journal": str(journal), "shard": shard} if shard else None
    write_fake_run(Path(opts.output_path), model_args, tasks, model=opts.model, lm_eval_ext=marks)
    log = os.environ.get("FAKE_LM_EVAL_LOG")
    if log:
        record = {
            "pid": os.getpid(),
            "output_path": opts.output_path,
            "start": start,
            "end": time.time(),
            "env_cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        with open(log, "a") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
