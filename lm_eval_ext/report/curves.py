"""Learning curves: metric vs step (or tokens) per task, one PNG per metric family.

Each figure holds one panel per task and one line per run, with a band of +- one standard
error and, for multiple-choice accuracies, the chance line (the mean of 1/number of choices
over the task's docs). Headless: matplotlib's Agg backend, never a display.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

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


def _with_x(data: pd.DataFrame, axis: str) -> pd.DataFrame:
    """``data`` with an ``_x`` column: the step (or tokens), or, for a run that lacks it for
    some checkpoint, the checkpoints' order."""
    parts = []
    for _, part in data.groupby("run", sort=True):
        values = part[axis]
        x = values.astype(float) if values.notna().all() else range(len(part))
        parts.append(part.assign(_x=list(x)))
    return pd.concat(parts)


def _padded(low: float, high: float) -> tuple[float, float]:
    pad = 0.05 * ((high - low) or 1)
    return low - pad, high + pad


def _panel(ax, data: pd.DataFrame, task: str, chance: float | None, colors: dict, many: bool):
    for run, part in data.groupby("run", sort=True):
        part = part.sort_values("_x")
        x, y = part["_x"].to_numpy(float), part["value"].to_numpy(float)
        err = part["stderr"].astype(float).fillna(0).to_numpy()
        marker = "o" if len(x) <= 30 else None  # 100 markers per line are clutter (and slow)
        ax.plot(x, y, marker=marker, markersize=3, color=colors[run], label=str(run))
        ax.fill_between(x, y - err, y + err, color=colors[run], alpha=0.2, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_title(task, fontsize=9)
    ax.tick_params(labelsize=7)
    # with many panels, fewer ticks and no grid: tick artists and their text are most of the
    # drawing time of a 60-panel figure
    ax.xaxis.set_major_locator(MaxNLocator(3 if many else 5))
    ax.yaxis.set_major_locator(MaxNLocator(3 if many else 5))
    if not many:
        ax.grid(alpha=0.3)


def _figure(plt, data: pd.DataFrame, chance: dict, axis: str, colors: dict, title: str):
    """One figure: a panel per task (4 per row), common axes ranges, fixed margins, one legend."""
    tasks = sorted(data["task"].unique())
    cols = min(4, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    chances = {t: chance.get(t) for t in tasks} if title.startswith("acc") else {}
    data = _with_x(data, axis)
    err = data["stderr"].fillna(0)
    lines = [c for c in chances.values() if c is not None]
    y_range = _padded(
        min([(data["value"] - err).min(), *lines]), max([(data["value"] + err).max(), *lines])
    )
    x_range = _padded(data["_x"].min(), data["_x"].max())
    many = len(tasks) > 12
    width, height = (3.2 * cols, 2.4 * rows) if many else (4 * cols, 3 * rows)  # inches
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    for i, (ax, task) in enumerate(zip(axes.flat, tasks, strict=False)):
        # ranges set by hand rather than sharex/sharey, which rescale every shared panel on
        # each plot call (quadratic: seconds on 60 panels); tick labels on outer panels only
        ax.set_xlim(*x_range)
        ax.set_ylim(*y_range)
        _panel(ax, data[data["task"] == task], task, chances.get(task), colors, many)
        ax.tick_params(labelbottom=i >= len(tasks) - cols, labelleft=i % cols == 0)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8)
    fig.suptitle(title, y=1 - 0.15 / height, va="top")
    fig.supxlabel(axis, fontsize=9, y=0.05 / height, va="bottom")
    # fixed margins: tight_layout measures every tick label (seconds on 60 panels)
    fig.subplots_adjust(
        left=0.6 / width,
        right=1 - 1.4 / width,
        bottom=0.5 / height,
        top=1 - 0.6 / height,
        wspace=0.15,
        hspace=0.35,
    )
    return fig, many


def plot_curves(
    df: pd.DataFrame, chance: dict[str, float | None], out_dir: Path, axis: str = "step"
) -> list[Path]:
    """Write ``curves_<family>.png`` for every metric family in ``df``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    palette = plt.get_cmap("tab10")
    colors = {run: palette(i % 10) for i, run in enumerate(sorted(df["run"].unique()))}
    written = []
    for (metric, filt), data in df.groupby(["metric", "filter"], sort=True):
        title = family(metric, filt)
        fig, many = _figure(plt, data, chance, axis, colors, title)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in title)
        written.append(Path(out_dir) / f"curves_{name}.png")
        # PNG compression level 1 on big figures: a third of the encoding time, same pixels
        options = {"compress_level": 1 if many else 6}
        fig.savefig(written[-1], dpi=72 if many else 100, pil_kwargs=options)
        plt.close(fig)
    return written
