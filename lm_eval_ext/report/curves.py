"""Learning curves: metric vs step (or tokens) per task, one PNG per metric family.

Each figure holds one panel per task and one line per run, with a band of +- one standard
error and, for multiple-choice accuracies, the chance line (the mean of 1/number of choices
over the task's docs). Headless: matplotlib's Agg backend, never a display.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

__all__ = ["chance_level", "family", "plot_curves"]


def family(metric: str, filt: str) -> str:
    """A metric family's name: the metric, with its filter when it is not ``none``."""
    return metric if filt == "none" else f"{metric} [{filt}]"


def chance_level(config: dict, samples: list[dict] | None) -> float | None:
    """Chance accuracy of a multiple-choice task, or None for other tasks.

    From the samples, each doc's number of choices is the number of its distinct contexts or
    continuations, whichever is larger (normal MC varies the continuation, partial scoring the
    context); without samples, a literal choice list in the task config.
    """
    if config.get("output_type") != "multiple_choice":
        return None
    if samples:
        counts = []
        for row in samples:
            args = list(row.get("arguments", {}).values())
            contexts = {a.get("arg_0") for a in args}
            continuations = {a.get("arg_1") for a in args}
            counts.append(max(len(contexts), len(continuations)))
        return sum(1 / k for k in counts if k) / len(counts) if counts else None
    choices = config.get("doc_to_choice")
    return 1 / len(choices) if isinstance(choices, list) and choices else None


def _x(part: pd.DataFrame, axis: str) -> pd.Series:
    values = part[axis]
    if values.notna().all():
        return values.astype(float)
    return pd.Series(range(len(part)), index=part.index, dtype=float)  # checkpoint order


def _panel(ax, data: pd.DataFrame, task: str, axis: str, chance: float | None, colors: dict):
    for run, part in data.groupby("run", sort=True):
        part = part.assign(_x=_x(part, axis)).sort_values("_x")
        x, y = part["_x"].to_numpy(), part["value"].to_numpy(float)
        err = part["stderr"].astype(float).fillna(0).to_numpy()
        ax.plot(x, y, marker="o", markersize=3, color=colors[run], label=str(run))
        ax.fill_between(x, y - err, y + err, color=colors[run], alpha=0.2, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_title(task, fontsize=9)
    ax.set_xlabel(axis, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def plot_curves(
    df: pd.DataFrame, chance: dict[str, float | None], out_dir: Path, axis: str = "step"
) -> list[Path]:
    """Write ``curves_<family>.png`` for every metric family in ``df``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(df["run"].unique())
    palette = plt.get_cmap("tab10")
    colors = {run: palette(i % 10) for i, run in enumerate(runs)}
    written = []
    for (metric, filt), data in df.groupby(["metric", "filter"], sort=True):
        tasks = sorted(data["task"].unique())
        cols = min(4, len(tasks))
        rows = math.ceil(len(tasks) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
        for ax, task in zip(axes.flat, tasks, strict=False):
            is_accuracy = metric.startswith("acc")
            _panel(
                ax,
                data[data["task"] == task],
                task,
                axis,
                chance.get(task) if is_accuracy else None,
                colors,
            )
        for ax in list(axes.flat)[len(tasks) :]:
            ax.set_visible(False)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", fontsize=8)
        fig.suptitle(family(metric, filt))
        fig.tight_layout(rect=(0, 0, 0.9, 0.95))
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in family(metric, filt))
        path = Path(out_dir) / f"curves_{name}.png"
        fig.savefig(path, dpi=72 if len(tasks) > 12 else 100)
        plt.close(fig)
        written.append(path)
    return written
