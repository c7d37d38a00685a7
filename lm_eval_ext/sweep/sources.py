"""The checkpoints a sweep evaluates: hub revisions, local ``checkpoint-*`` dirs, LoRA adapters.

Every source becomes a :class:`CheckpointSpec`: the run it belongs to and its label (the two
folder names under ``OUT``, from :mod:`lm_eval_ext.checkpoints.naming`), what to put into
``--model_args`` for it, and the step / tokens its name says.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from lm_eval_ext.checkpoints.naming import (
    checkpoint_label,
    parse_checkpoint_name,
    run_name,
)
from lm_eval_ext.errors import SweepError

__all__ = [
    "CheckpointSpec",
    "adapter_checkpoints",
    "base_checkpoint",
    "checkpoints_from_file",
    "hub_refs",
    "hub_revision_pattern",
    "hub_revisions",
    "local_checkpoints",
    "order_checkpoints",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointSpec:
    """One checkpoint to evaluate and where its results go (``OUT/<run>/<label>/``)."""

    run: str
    label: str
    kind: str  # "revision" | "local" | "adapter" | "base"
    pretrained: str
    revision: str | None = None
    adapter: str | None = None
    step: int | None = None
    tokens: int | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict (the manifest's form)."""
        return asdict(self)


def _spec(kind: str, pretrained: str, revision=None, adapter=None, run=None) -> CheckpointSpec:
    label = checkpoint_label(pretrained, revision, adapter)
    parsed = parse_checkpoint_name(adapter or revision or pretrained)
    return CheckpointSpec(
        run=run or run_name(pretrained, adapter),
        label=label,
        kind=kind,
        pretrained=pretrained,
        revision=revision,
        adapter=adapter,
        step=parsed.step,
        tokens=parsed.tokens,
    )


def hub_revisions(repo: str, revisions: list[str], run: str | None = None) -> list[CheckpointSpec]:
    """The named revisions (branches, tags or commits) of hub repo ``repo``."""
    return [_spec("revision", repo, revision=r, run=run) for r in revisions if r.strip()]


def hub_refs(repo: str) -> list[str]:
    """Branch and tag names of a hub model repo: from the hub, or offline from the local cache.

    Offline (``HF_HUB_OFFLINE=1``) only the refs already in ``HF_HUB_CACHE`` are known.
    """
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError

    if constants.HF_HUB_OFFLINE:
        cached = {r.repo_id: r for r in huggingface_hub.scan_cache_dir().repos}
        if repo not in cached:
            raise SweepError(
                f"{repo}: not in the hub cache {constants.HF_HUB_CACHE} and HF_HUB_OFFLINE is set"
            )
        return sorted(cached[repo].refs)
    try:
        refs = huggingface_hub.list_repo_refs(repo)
    except HfHubHTTPError as exc:
        raise SweepError(f"{repo}: cannot list its branches ({exc})") from None
    return sorted({ref.name for ref in [*refs.branches, *refs.tags]})


def hub_revision_pattern(repo: str, pattern: str, run: str | None = None) -> list[CheckpointSpec]:
    """Every branch or tag of ``repo`` matching the shell pattern ``pattern`` (``step-*``)."""
    refs = hub_refs(repo)
    chosen = [r for r in refs if fnmatch.fnmatchcase(r, pattern)]
    if not chosen:
        shown = ", ".join(refs[:10]) + (" ..." if len(refs) > 10 else "")
        raise SweepError(f"--revision_pattern {pattern!r}: no ref of {repo} matches ({shown})")
    return hub_revisions(repo, chosen, run)


def _checkpoint_dir(path: Path, base: str | None, what: str, run: str | None) -> CheckpointSpec:
    """A local model dir (``config.json``) or adapter dir (``adapter_config.json``)."""
    path = path.resolve()
    if (path / "adapter_config.json").is_file():
        if base is None:
            raise SweepError(f"{what}: {path} is a LoRA adapter; give its base as pretrained=")
        return _spec("adapter", base, adapter=str(path), run=run)
    if (path / "config.json").is_file():
        return _spec("local", str(path), run=run)
    raise SweepError(f"{what}: {path} has neither config.json nor adapter_config.json")


def local_checkpoints(
    pattern: str, base: str | None = None, run: str | None = None
) -> list[CheckpointSpec]:
    """Every directory matching the glob ``pattern`` (adapters among them need ``base``)."""
    paths = sorted(Path(p) for p in glob.glob(str(Path(pattern).expanduser())))
    dirs = [p for p in paths if p.is_dir()]
    if not dirs:
        raise SweepError(f"--checkpoints {pattern!r}: no directory matches")
    return [_checkpoint_dir(p, base, f"--checkpoints {pattern!r}", run) for p in dirs]


def adapter_checkpoints(pattern: str, base: str, run: str | None = None) -> list[CheckpointSpec]:
    """Every LoRA adapter directory matching ``pattern``, to be merged onto ``base``."""
    specs = local_checkpoints(pattern, base, run)
    not_adapters = [s.pretrained for s in specs if s.kind != "adapter"]
    if not_adapters:
        raise SweepError(f"--adapters {pattern!r}: not adapter dirs: {', '.join(not_adapters)}")
    return specs


def checkpoints_from_file(path: Path, base: str | None) -> list[CheckpointSpec]:
    """Checkpoints listed in a file, one per line (``#`` starts a comment).

    A line naming an existing directory (relative paths: relative to the file) is a local
    checkpoint or adapter; any other line is a revision of the base hub repo ``pretrained=``.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SweepError(f"--checkpoint_file {path}: {exc.strerror}") from None
    specs = []
    for number, raw in enumerate(lines, 1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        candidate = (path.parent / Path(entry).expanduser()).resolve()
        if candidate.is_dir():
            specs.append(_checkpoint_dir(candidate, base, f"{path}:{number}", None))
        elif "/" in entry or entry.startswith("."):
            raise SweepError(f"{path}:{number}: {entry}: no such directory")
        elif base is None:
            raise SweepError(f"{path}:{number}: revision {entry!r} needs pretrained=REPO")
        else:
            specs += hub_revisions(base, [entry])
    if not specs:
        raise SweepError(f"--checkpoint_file {path}: lists no checkpoint")
    return specs


def base_checkpoint(
    pretrained: str, revision: str | None, adapter_runs: list[str]
) -> list[CheckpointSpec]:
    """The base model itself, labelled ``base``: step 0 of each adapter run, else its own run."""
    runs = sorted(set(adapter_runs)) or [run_name(pretrained)]
    step = 0 if adapter_runs else None
    return [CheckpointSpec(r, "base", "base", pretrained, revision, step=step) for r in runs]


def order_checkpoints(specs: list[CheckpointSpec]) -> list[CheckpointSpec]:
    """By run, then base first, then step (or tokens), then label; duplicates refused."""
    seen: dict[tuple[str, str], CheckpointSpec] = {}
    for spec in specs:
        key = (spec.run, spec.label)
        if key in seen and seen[key] != spec:
            raise SweepError(
                f"two checkpoints map to {spec.run}/{spec.label}: {_source(seen[key])} and "
                f"{_source(spec)} (give one of them another folder name)"
            )
        seen[key] = spec

    def key(spec: CheckpointSpec) -> tuple:
        position = spec.step if spec.step is not None else spec.tokens
        return (spec.run, spec.kind != "base", position is None, position or 0, spec.label)

    return sorted(seen.values(), key=key)


def _source(spec: CheckpointSpec) -> str:
    where = spec.adapter or spec.pretrained
    return f"{where}@{spec.revision}" if spec.revision else where
