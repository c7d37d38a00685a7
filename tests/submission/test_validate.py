"""``validate``: each defect leaderboards reject is refused, with its exact message, all listed."""

from __future__ import annotations

import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from lm_eval_ext.submission import Limits, load_suite, package_runs, validate_zip
from lm_eval_ext.submission.manifest import member_entry
from tests.submission.conftest import evaluate, write_suite

RUN = "org__tiny-llama"  # a single run's label: its folder under OUT


def _lines(defects) -> list[str]:
    return [str(d) for d in defects]


def _package(out: Path, tmp_path: Path, **suite_kwargs) -> Path:
    suite = load_suite(write_suite(tmp_path / "suite.yaml", **suite_kwargs))
    return package_runs([out], tmp_path / "sub.zip", suite).path


def _rewrite(src: Path, dst: Path, edit=None, extra=(), fix_manifest=False) -> Path:
    """A copy of zip ``src`` with members replaced (``edit``: name -> bytes) and ``extra`` ones
    added (``(ZipInfo or name, bytes)``); ``fix_manifest`` re-hashes the edited members."""
    edit = dict(edit or {})
    with zipfile.ZipFile(src) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    if fix_manifest:
        manifest = json.loads(dict((i.filename, d) for i, d in members)["manifest.json"])
        for name, data in edit.items():
            manifest["members"][name] = member_entry(data)
        edit["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, edit.get(info.filename, data))
        for info, data in extra:
            zf.writestr(info, data)
    return dst


@pytest.fixture(scope="module")
def run_out(tiny_hub, tasks_dir, tmp_path_factory) -> Path:
    """One complete run of org/tiny-llama@step-1."""
    from tests.support.hub_cache import use_hub_cache

    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        use_hub_cache(mp, tiny_hub[0])
        evaluate(out, tasks_dir)
    return out


def _copy(out: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of a run's OUT and its (single) results file, to edit before packaging."""
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("journal"))
    return copy, next(copy.rglob("results_*.json"))


def test_required_task_missing_and_wrong_n_shot(hub, run_out, tmp_path):
    extra = (
        "  - name: MORE\n    n_shot: 0\n    metric: acc\n"
        "    tasks: {ext_sample_missing: {choices: 2}}\n"
    )
    zip_path = _package(run_out, tmp_path, n_shot=2, extra=extra)
    assert _lines(validate_zip(zip_path)) == [
        f"n-shot: run {RUN}: task ext_sample_mc ran 0-shot, suite tiny_suite requires 2-shot",
        f"missing-task: run {RUN}: task ext_sample_missing required by suite tiny_suite is missing",
    ]


def test_a_limit_run_is_refused(hub, tasks_dir, tmp_path):
    out = evaluate(tmp_path / "limited", tasks_dir, limit=5)
    assert _lines(validate_zip(_package(out, tmp_path))) == [
        f"limit: run {RUN}: evaluated with --limit 5",
        f"incomplete: run {RUN}: task ext_sample_gen scored 5 of 20 docs",
        f"incomplete: run {RUN}: task ext_sample_mc scored 5 of 20 docs",
        f"doc-count: run {RUN}: task ext_sample_mc scored 5 docs, suite tiny_suite requires "
        "exactly 20",
    ]


def test_errored_and_duplicated_docs_are_refused(hub, errored_out, tmp_path):
    lines = _lines(validate_zip(_package(errored_out, tmp_path)))
    assert lines == [
        f"errored: run {RUN}: task ext_sample_mc has 2 errored docs",
        f"doc-count: run {RUN}: task ext_sample_mc scored 18 docs, suite tiny_suite requires "
        "exactly 20",
    ]
    copy, results = _copy(errored_out, tmp_path)
    samples = next(results.parent.glob("samples_ext_sample_gen_*.jsonl"))
    rows = samples.read_text().splitlines()
    samples.write_text("\n".join([*rows, rows[3]]) + "\n")
    (tmp_path / "dup").mkdir()
    lines = _lines(validate_zip(_package(copy, tmp_path / "dup")))
    assert (
        f"duplicate-doc: run {RUN}: task ext_sample_gen has doc_id 3 2 times (filter clean)"
        in lines
    )


def test_member_hash_size_and_listing_defects(hub, run_out, tmp_path):
    good = _package(run_out, tmp_path)
    with zipfile.ZipFile(good) as zf:
        name = next(n for n in zf.namelist() if "samples_ext_sample_mc" in n)
        data = zf.read(name)
    bad = _rewrite(
        good,
        tmp_path / "bad.zip",
        edit={name: data.replace(b"Paris", b"Rome!")},
        extra=[("notes.txt", b"hello")],
    )
    entry = member_entry(data.replace(b"Paris", b"Rome!"))
    lines = _lines(validate_zip(bad))
    assert (
        f"checksum: member {name}: sha256 {entry['sha256']} does not match the manifest's "
        f"{member_entry(data)['sha256']}" in lines
    )
    assert "unlisted: member notes.txt is not in the manifest" in lines
    with zipfile.ZipFile(good) as zf:
        kept = [(i, zf.read(i)) for i in zf.infolist() if "scores.md" not in i.filename]
    with zipfile.ZipFile(tmp_path / "less.zip", "w") as zf:
        for info, blob in kept:
            zf.writestr(info, blob)
    assert _lines(validate_zip(tmp_path / "less.zip")) == [
        "missing-member: member scores.md is in the manifest but not in the zip"
    ]


def test_results_that_do_not_recompute_from_the_samples(hub, run_out, tmp_path):
    copy, results_path = _copy(run_out, tmp_path)
    results = json.loads(results_path.read_text())
    true_acc = results["results"]["ext_sample_mc"]["acc,none"]
    results["results"]["ext_sample_mc"]["acc,none"] = 0.99
    results_path.write_text(json.dumps(results, indent=2))
    lines = _lines(validate_zip(_package(copy, tmp_path)))
    assert (
        f"recompute: run {RUN}: ext_sample_mc acc,none is 0.99 in the results, {true_acc} "
        "recomputed from the samples" in lines
    )


def test_unsafe_members_are_refused_before_reading(hub, run_out, tmp_path):
    good = _package(run_out, tmp_path)
    link = zipfile.ZipInfo("runs/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    bomb = zipfile.ZipInfo("bomb.bin")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    bad = _rewrite(
        good,
        tmp_path / "bad.zip",
        extra=[
            ("../evil.txt", b"x"),
            ("/abs.txt", b"x"),
            (link, b"/etc/passwd"),
            ("scores.md", b"again"),
            (bomb, b"\0" * (8 << 20)),
        ],
    )
    lines = _lines(validate_zip(bad, limits=Limits(ratio=100, ratio_min_bytes=1 << 20)))
    for line in (
        "unsafe-name: member ../evil.txt contains '..'",
        "unsafe-name: member /abs.txt is an absolute path",
        "symlink: member runs/link is a symbolic link",
        "duplicate-name: member scores.md appears 2 times",
    ):
        assert line in lines
    assert any(line.startswith("zip-bomb: member bomb.bin expands ") for line in lines)
    assert not (tmp_path.parent / "evil.txt").exists()
    small = _lines(validate_zip(good, limits=Limits(member_bytes=1000)))
    assert any(
        line.startswith("too-large: member runs/") and "(limit 1000)" in line for line in small
    )


def test_local_model_and_unresolved_revision_are_refused(tiny_world, tasks_dir, tmp_path):
    from tests.support.lm_eval_runs import evaluate_and_save

    out = tmp_path / "local"
    evaluate_and_save(
        {"pretrained": str(tiny_world.model_dir)},
        ["ext_sample_mc", "ext_sample_gen"],
        tasks_dir / "sample",
        out,
    )
    lines = _lines(validate_zip(_package(out, tmp_path, checkpoints=[])))
    label = next(out.iterdir()).name
    assert lines == [
        f"model-id: run {label}: model id '<local>/tiny-llama' is not a hub id with an owner "
        "namespace (owner/name)",
        f"revision: run {label}: revision 'main' is not resolved to a commit sha (got None)",
    ]


def test_edited_scores_are_refused(hub, run_out, tmp_path):
    good = _package(run_out, tmp_path)
    with zipfile.ZipFile(good) as zf:
        text = zf.read("scores.csv").decode()
    row = next(r for r in text.splitlines() if ",MC,ext_sample_mc," in r)
    cells = row.split(",")
    edited = text.replace(row, ",".join([*cells[:5], "99.0", *cells[6:]]))
    bad = _rewrite(
        good, tmp_path / "bad.zip", edit={"scores.csv": edited.encode()}, fix_manifest=True
    )
    assert _lines(validate_zip(bad)) == [
        f"scores: scores.csv: MC/ext_sample_mc of run {RUN} is 99, recomputed {float(cells[5]):.6g}"
    ]


def test_missing_checkpoints_of_the_suite(hub, sweep_out, tmp_path):
    zip_path = _package(sweep_out, tmp_path, checkpoints=["step-1", "step-2", "step-3"])
    assert _lines(validate_zip(zip_path)) == [
        "missing-checkpoint: checkpoint step-3 required by suite tiny_suite has no run"
    ]
