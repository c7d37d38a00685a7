"""``lm-eval-ext report`` over a sweep and a plain lm-eval folder (generated results files)."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from lm_eval_ext.cli.main import main
from lm_eval_ext.demo.fake_results import fake_task_rows, write_fake_run
from lm_eval_ext.errors import ReportError
from lm_eval_ext.report import build_report


@pytest.fixture()
def sweep_out(tmp_path, fake_lm_eval_cmd, monkeypatch) -> Path:
    """A finished sweep (3 checkpoints x 2 task groups) of the stand-in lm_eval."""
    monkeypatch.delenv("FAKE_LM_EVAL_FAIL", raising=False)
    for step in (0, 100, 200):
        (tmp_path / "ck" / "run" / f"checkpoint-{step}").mkdir(parents=True)
        (tmp_path / "ck" / "run" / f"checkpoint-{step}" / "config.json").write_text("{}")
    args = [
        "sweep",
        str(tmp_path / "out"),
        "--checkpoints",
        str(tmp_path / "ck/run/checkpoint-*"),
        "--tasks",
        "a,b",
        "--tasks",
        "c",
        "--lm_eval_cmd",
        fake_lm_eval_cmd,
    ]
    assert main(args) == 0
    return tmp_path / "out"


@pytest.fixture()
def plain_out(tmp_path) -> Path:
    """What plain lm_eval leaves for two revisions of one hub repo: one folder, two dates."""
    out = tmp_path / "plain"
    for date, (revision, acc) in enumerate([("step-1000", 0.3), ("step-2000", 0.6)]):
        args = {"pretrained": "org/model", "revision": revision}
        write_fake_run(
            out, args, {"a": fake_task_rows("a", 40, acc)}, date_id=f"2026-01-0{date + 1}"
        )
    return out


def _results_values(root: Path) -> dict:
    """(results file, task, metric) -> (value, stderr, n), read straight from the JSON files."""
    values = {}
    for path in root.rglob("results_*.json"):
        data = json.loads(path.read_text())
        for task, metrics in data["results"].items():
            for key in ("acc,none", "acc_norm,none"):
                metric = key.split(",")[0]
                stderr = metrics[f"{metric}_stderr,none"]
                values[(str(path), task, metric)] = (
                    metrics[key],
                    stderr,
                    data["n-samples"][task]["effective"],
                )
    return values


def test_long_table_equals_the_results_files(sweep_out, plain_out, tmp_path):
    report = build_report([sweep_out, plain_out], tmp_path / "rep")
    df = report.table
    expected = {**_results_values(sweep_out), **_results_values(plain_out)}
    got = {(r.results_file, r.task, r.metric): (r.value, r.stderr, r.n) for r in df.itertuples()}
    assert got == expected
    runs = df.drop_duplicates(["run", "checkpoint"])[["run", "checkpoint", "step", "revision"]]
    assert runs.astype(object).where(runs.notna(), None).values.tolist() == [
        ["org__model", "step-1000", 1000, "step-1000"],  # one folder, two revisions: kept apart
        ["org__model", "step-2000", 2000, "step-2000"],
        ["run", "checkpoint-0", 0, None],
        ["run", "checkpoint-100", 100, None],
        ["run", "checkpoint-200", 200, None],
    ]
    csv = pd.read_csv(tmp_path / "rep" / "results_long.csv")
    assert list(csv.columns) == [
        "run",
        "checkpoint",
        "step",
        "tokens",
        "task",
        "metric",
        "filter",
        "value",
        "stderr",
        "n",
        "revision",
        "sha",
        "results_file",
    ]
    assert np.allclose(csv["value"], df["value"])
    parquet = pd.read_parquet(tmp_path / "rep" / "results_long.parquet")
    pd.testing.assert_frame_equal(parquet, df)
    assert report.chance == {"a": 0.25, "b": 0.25, "c": 0.25}


def test_newest_results_file_of_a_checkpoint_wins(plain_out, tmp_path):
    args = {"pretrained": "org/model", "revision": "step-1000"}
    write_fake_run(plain_out, args, {"a": fake_task_rows("a", 40, 0.9)}, date_id="2026-02-01")
    df = build_report([plain_out], tmp_path / "rep").table
    row = df[(df["checkpoint"] == "step-1000") & (df["metric"] == "acc")]
    assert len(row) == 1 and row["results_file"].item().endswith("results_2026-02-01.json")


def test_markdown_pivot_and_missing_cells(sweep_out, tmp_path):
    results = next((sweep_out / "run" / "checkpoint-100" / "a+b").rglob("results_*.json"))
    value = json.loads(results.read_text())["results"]["b"]
    shutil.rmtree(sweep_out / "run" / "checkpoint-200" / "c")  # a cell that never ran
    build_report([sweep_out], tmp_path / "rep")
    markdown = (tmp_path / "rep" / "report.md").read_text()
    cell = f"{value['acc,none']:.4f} ± {value['acc_stderr,none']:.4f}"
    row = next(line for line in markdown.splitlines() if line.startswith("| checkpoint-100 "))
    assert cell in row and "| 100 " in row
    missing = markdown.split("## Missing cells")[1].split("##")[0]
    assert re.search(r"\| run +\| checkpoint-200 +\| c +\|", missing)
    assert len(re.findall(r"^\| run +\| checkpoint-", missing, re.M)) == 1  # only that one


def _assert_real_plot(path: Path) -> None:
    image = Image.open(path).convert("RGB")
    width, height = image.size
    assert width >= 400 and height >= 250
    pixels = np.asarray(image)
    not_white = (pixels < 245).any(axis=2).mean()
    assert not_white > 0.02  # axes, lines, bands, text
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # several colours, not blank


def test_curves_and_self_contained_html(sweep_out, plain_out, tmp_path):
    report = build_report(
        [sweep_out, plain_out], tmp_path / "rep", compare=[("run", "run@checkpoint-0")]
    )
    pngs = sorted((tmp_path / "rep").glob("*.png"))
    assert [p.name for p in pngs] == ["curves_acc.png", "curves_acc_norm.png"]
    for png in pngs:
        _assert_real_plot(png)
    html = (tmp_path / "rep" / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(p.read_bytes() for p in pngs)
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing outside the file
    first = report.table.iloc[0]
    assert f"{first.value:.4f} ± {first.stderr:.4f}" in html
    assert "Paired comparison: run@checkpoint-200 vs run@checkpoint-0" in html


def _samples(cell_dir: Path, task: str) -> dict[int, dict]:
    path = next(cell_dir.rglob(f"samples_{task}_*.jsonl"))
    return {r["doc_id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_paired_comparison_equals_scipy_on_the_samples(sweep_out, tmp_path, capsys):
    code = main(
        [
            "report",
            str(sweep_out),
            "-o",
            str(tmp_path / "rep"),
            "--compare",
            "run@last",
            "run@checkpoint-0",
            "--resamples",
            "2000",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "run@checkpoint-200 vs run@checkpoint-0:" in printed
    table = pd.read_csv(tmp_path / "rep" / "comparisons.csv")
    row = table[(table["task"] == "a") & (table["metric"] == "acc")].iloc[0]
    new = _samples(sweep_out / "run/checkpoint-200/a+b", "a")
    old = _samples(sweep_out / "run/checkpoint-0/a+b", "a")
    a = np.array([new[i]["acc"] for i in sorted(new)])
    b = np.array([old[i]["acc"] for i in sorted(old)])
    assert row["n"] == 40 and row["mean A"] == a.mean() and row["mean B"] == b.mean()
    n10, n01 = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    assert row["McNemar n10/n01"] == f"{n10}/{n01}"
    assert row["McNemar p (exact)"] == pytest.approx(
        stats.binomtest(n10, n10 + n01).pvalue, rel=1e-12
    )
    ci = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(x - y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=2000,
        method="BCa",
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert row["95% CI (paired bootstrap)"] == f"[{ci.low:+.4f}, {ci.high:+.4f}]"
    results = json.loads(
        next((sweep_out / "run/checkpoint-200/a+b").rglob("results_*.json")).read_text()
    )
    assert row["mean A"] == pytest.approx(results["results"]["a"]["acc,none"], abs=1e-12)


def test_mismatched_docs_are_refused(sweep_out, tmp_path):
    path = next((sweep_out / "run/checkpoint-0/a+b").rglob("samples_a_*.jsonl"))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[3]["doc_hash"] = "0" * 64
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ReportError, match=r"a: 1 docs differ .*doc_hash: doc 3"):
        build_report([sweep_out], tmp_path / "rep", compare=[("run", "run@checkpoint-0")])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))
    with pytest.raises(ReportError, match="did not see the same docs"):
        build_report([sweep_out], tmp_path / "rep", compare=[("run", "run@checkpoint-0")])
    with pytest.raises(ReportError, match="no run 'nope'"):
        build_report([sweep_out], tmp_path / "rep", compare=[("nope", "run")])
    with pytest.raises(ReportError, match="run has no 'step-9'"):
        build_report([sweep_out], tmp_path / "rep", compare=[("run@step-9", "run")])
    with pytest.raises(ReportError, match="no results_"):
        build_report([tmp_path / "ck"], tmp_path / "rep")


def test_shard_runs_are_not_results(tmp_path, plain_out):
    """A journal_shard=K/N run's results cover part of the docs: never a checkpoint's result."""
    shards = tmp_path / "shards"
    for k in (0, 1):
        args = {"pretrained": "org/model", "revision": "step-3000"}
        write_fake_run(
            shards / f"{k}-of-2",
            args,
            {"a": fake_task_rows("a", 40, 0.9)},
            lm_eval_ext={"journal": str(shards / f"{k}-of-2/journal"), "shard": f"{k}/2"},
        )
    with pytest.raises(ReportError, match="only partial results of shard runs"):
        build_report([shards], tmp_path / "rep")
    one = next(shards.rglob("results_*.json"))
    with pytest.raises(ReportError, match=f"{re.escape(str(one))}: only partial results of"):
        build_report([one], tmp_path / "rep")
    shutil.copytree(shards, plain_out / "shards")  # next to whole runs: left out
    df = build_report([plain_out], tmp_path / "rep").table
    assert set(df["checkpoint"]) == {"step-1000", "step-2000"}
