"""``lm-eval-ext validate``: every reason a leaderboard would reject a submission, one line each.

The zip is inspected before anything is read (names, links, duplicates, sizes, compression
ratios), members are read with bounded sizes and written only inside a temporary directory,
then the manifest, the runs (completeness, errors, duplicates, n-shot, the suite's tasks and
checkpoints, model id and revision), the results (recomputed from the samples with our
``rescore``) and the scores (recomputed under the suite) are checked. All defects are listed.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.submission.archive import (
    Limits,
    extract_member,
    is_symlink,
    read_member,
    unsafe_name,
)
from lm_eval_ext.submission.manifest import MANIFEST, member_entry
from lm_eval_ext.submission.run_checks import check_run
from lm_eval_ext.submission.scores import read_scores_csv, score_run
from lm_eval_ext.submission.suites import Suite, builtin_suites, load_suite, suite_from_text


@dataclass(frozen=True)
class Defect:
    """One reason the submission would be rejected."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def validate_zip(
    path: Path,
    suite: Suite | None = None,
    include_path: list[str] | None = None,
    limits: Limits | None = None,
) -> list[Defect]:
    """Every defect of the submission at ``path`` (an empty list: nothing to reject)."""
    defects: list[Defect] = []
    try:
        members = _read_members(Path(path), limits or Limits(), defects)
    except zipfile.BadZipFile as exc:
        return [Defect("not-a-zip", f"{path}: {exc}")]
    manifest = _manifest(members, defects)
    if manifest is None:
        return defects
    good = _check_hashes(manifest, members, defects)
    if suite is None and manifest.get("suite"):
        suite = _packaged_suite(manifest["suite"], members.get("suite.yaml"))
    with tempfile.TemporaryDirectory(prefix="lm-eval-ext-validate-") as tmp:
        for name in good:
            extract_member(members[name], name, Path(tmp))
        runs = _check_runs(manifest, Path(tmp), suite, include_path, defects)
    if suite is not None:
        _check_checkpoints(manifest, suite, defects)
        _check_scores(
            members.get("scores.csv") if "scores.csv" in good else None, runs, suite, defects
        )
    return defects


def _packaged_suite(name: str, text: bytes | None) -> Suite:
    """The suite a submission names: a shipped one by its name (never the zip's own copy of a
    leaderboard's rules), else the suite the zip carries."""
    if name in builtin_suites() or text is None:
        return load_suite(name)
    return suite_from_text(text.decode("utf-8"), "suite.yaml in the submission")


def _read_members(path: Path, limits: Limits, defects: list[Defect]) -> dict[str, bytes]:
    """The bytes of every member that is safe to read; defects for the others."""
    out: dict[str, bytes] = {}
    total = 0
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            defects.append(
                Defect("duplicate-name", f"member {dup} appears {names.count(dup)} times")
            )
        for info in infos:
            why = _unsafe(info, limits)
            if why:
                defects.append(Defect(why[0], f"member {info.filename} {why[1]}"))
                continue
            if info.is_dir() or names.count(info.filename) > 1:
                continue
            total += info.file_size
            if total > limits.total_bytes:
                defects.append(
                    Defect("too-large", f"members exceed {limits.total_bytes} bytes in total")
                )
                break
            out[info.filename] = read_member(zf, info, limits.member_bytes)
    return out


def _unsafe(info: zipfile.ZipInfo, limits: Limits) -> tuple[str, str] | None:
    why = unsafe_name(info.filename)
    if why:
        return "unsafe-name", why
    if is_symlink(info):
        return "symlink", "is a symbolic link"
    if info.file_size > limits.member_bytes:
        return "too-large", f"is {info.file_size} bytes (limit {limits.member_bytes})"
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size >= limits.ratio_min_bytes and ratio > limits.ratio:
        return "zip-bomb", f"expands {ratio:.0f}x (limit {limits.ratio:.0f}x)"
    return None


def _manifest(members: dict[str, bytes], defects: list[Defect]) -> dict[str, Any] | None:
    if MANIFEST not in members:
        defects.append(Defect("no-manifest", f"{MANIFEST} is missing"))
        return None
    try:
        manifest = json.loads(members[MANIFEST])
        assert isinstance(manifest.get("members"), dict) and isinstance(manifest.get("runs"), list)
        return manifest
    except (ValueError, AssertionError):
        defects.append(Defect("no-manifest", f"{MANIFEST} is not a submission manifest"))
        return None


def _check_hashes(
    manifest: dict[str, Any], members: dict[str, bytes], defects: list[Defect]
) -> list[str]:
    """Members whose sha256 and size match the manifest; defects for every mismatch."""
    listed: dict[str, dict] = manifest["members"]
    good = []
    for name, data in members.items():
        if name == MANIFEST:
            continue
        if name not in listed:
            defects.append(Defect("unlisted", f"member {name} is not in the manifest"))
            continue
        actual = member_entry(data)
        for key in ("size", "sha256"):
            if listed[name].get(key) != actual[key]:
                defects.append(
                    Defect(
                        "checksum",
                        f"member {name}: {key} {actual[key]} does "
                        f"not match the manifest's {listed[name].get(key)}",
                    )
                )
                break
        else:
            good.append(name)
    for name in sorted(set(listed) - set(members)):
        defects.append(
            Defect("missing-member", f"member {name} is in the manifest but not in the zip")
        )
    return good


def _check_runs(
    manifest: dict[str, Any],
    root: Path,
    suite: Suite | None,
    include_path: list[str] | None,
    defects: list[Defect],
) -> dict[str, dict]:
    """Check every run; returns ``label -> results`` of the readable ones."""
    runs = {}
    for entry in manifest["runs"]:
        results = check_run(
            entry, root, suite, include_path, lambda code, msg: defects.append(Defect(code, msg))
        )
        if results is not None:
            runs[entry["label"]] = results
    return runs


def _check_checkpoints(manifest: dict[str, Any], suite: Suite, defects: list[Defect]) -> None:
    present = {str(e.get("revision")) for e in manifest["runs"]}
    for checkpoint in suite.checkpoints:
        if checkpoint not in present:
            defects.append(
                Defect(
                    "missing-checkpoint",
                    f"checkpoint {checkpoint} required by suite {suite.name} has no run",
                )
            )


def _check_scores(
    data: bytes | None, runs: dict[str, dict], suite: Suite, defects: list[Defect]
) -> None:
    if data is None:
        defects.append(Defect("scores", f"scores.csv is missing (suite {suite.name})"))
        return
    recorded = read_scores_csv(data.decode("utf-8"))
    for label, results in runs.items():
        run = score_run(label, results, suite)
        expected = {(label, t.benchmark, t.task): t.normalized for t in run.tasks}
        expected.update({(label, b, ""): v for b, v in run.benchmarks.items()})
        expected[(label, "overall", "")] = run.overall
        for key, value in expected.items():
            got = recorded.get(key, "absent")
            if (
                got == "absent"
                or (value is None) != (got is None)
                or (value is not None and abs(value - got) > 1e-6)
            ):
                where = f"{key[1]}/{key[2]}" if key[2] else key[1]
                defects.append(
                    Defect(
                        "scores",
                        f"scores.csv: {where} of run {label} is "
                        f"{_fmt(got)}, recomputed {_fmt(value)}",
                    )
                )


def _fmt(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
