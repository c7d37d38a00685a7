"""The report's tables: long form (CSV / Parquet), pivots, missing cells, comparisons."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from lm_eval_ext.report.paired import PairedResult

__all__ = [
    "comparison_frame",
    "markdown_table",
    "missing_cells",
    "pivot_tables",
    "write_long_table",
]


def write_long_table(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``results_long.csv``, and ``results_long.parquet`` when pyarrow is installed."""
    written = [Path(out_dir) / "results_long.csv"]
    df.to_csv(written[0], index=False)
    if importlib.util.find_spec("pyarrow") is not None:
        written.append(Path(out_dir) / "results_long.parquet")
        df.to_parquet(written[1], index=False)
    return written


def _column(row: pd.Series) -> str:
    name = f"{row['task']}/{row['metric']}"
    return name if row["filter"] == "none" else f"{name} [{row['filter']}]"


def _cell(value: float, stderr: float | None) -> str:
    return f"{value:.4f}" if pd.isna(stderr) else f"{value:.4f} ± {stderr:.4f}"


def pivot_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per run: checkpoints (in step order) x task/metric, each cell ``value ± stderr``."""
    tables = {}
    for run, part in df.groupby("run", sort=True):
        part = part.assign(
            column=part.apply(_column, axis=1),
            cell=[_cell(v, e) for v, e in zip(part["value"], part["stderr"], strict=True)],
        )
        order = list(dict.fromkeys(part["checkpoint"]))  # df comes sorted by step
        wide = part.pivot_table(
            index="checkpoint", columns="column", values="cell", aggfunc="first"
        )
        wide = wide.reindex(order)
        steps = part.drop_duplicates("checkpoint").set_index("checkpoint")["step"].reindex(order)
        wide.insert(0, "step", steps.astype("string").fillna(""))
        tables[str(run)] = wide.fillna("—").reset_index()
    return tables


def missing_cells(df: pd.DataFrame, expected: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(run, checkpoint, task) planned by a sweep, or expected from the grid of each run's
    checkpoints x tasks, that no results file has."""
    present = set(zip(df["run"], df["checkpoint"], df["task"], strict=True))
    wanted = set(expected)
    for run, part in df.groupby("run"):
        wanted |= {(run, c, t) for c in part["checkpoint"].unique() for t in part["task"].unique()}
    missing = sorted(wanted - present)
    return pd.DataFrame(missing, columns=["run", "checkpoint", "task"])


def comparison_frame(label_a: str, label_b: str, results: list[PairedResult]) -> pd.DataFrame:
    """One row per task/metric: means, paired CI and McNemar next to the unpaired z-test."""
    rows = []
    for r in results:
        rows.append(
            {
                "A": label_a,
                "B": label_b,
                "task": r.task,
                "metric": r.metric,
                "filter": r.filter,
                "n": r.n,
                "mean A": r.mean_a,
                "mean B": r.mean_b,
                "A - B": r.diff,
                "95% CI (paired bootstrap)": f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
                "McNemar n10/n01": "" if r.n10 is None else f"{r.n10}/{r.n01}",
                "McNemar p (exact)": r.mcnemar_p,
                "unpaired z": r.unpaired_z,
                "unpaired p": r.unpaired_p,
                "excluded docs": r.excluded,
            }
        )
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub Markdown table; floats with 4 significant digits."""
    if df.empty:
        return "_none_\n"
    shown = df.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    # tabulate through pandas: ~50x faster than pytablewriter on a 100 x 120 pivot
    return shown.astype(str).to_markdown(index=False, tablefmt="github", disable_numparse=True)
