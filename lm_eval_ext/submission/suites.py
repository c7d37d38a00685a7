"""Leaderboard suites as data: which tasks a submission needs and how they are scored.

A suite is a YAML file (the shipped ones are in ``suites/``; ``--suite PATH.yaml`` loads your
own)::

    name: my_suite
    description: ...
    source: where the numbers come from
    hub_model: true          # the model must be an ``owner/name`` hub id at a commit sha
    checkpoints: [step-1]    # every one must be present (runs of one model's revisions)
    normalization: random_baseline   # or "none"
    benchmarks:
      - name: BBH
        n_shot: 3                    # defaults for the benchmark's tasks ...
        metric: acc_norm             # one metric, or a list whose mean is the task's score
        filter: none
        aggregate: unweighted        # or "weighted" (by each task's scored docs)
        tasks:
          leaderboard_bbh_object_counting: {choices: 19}   # ... which a task may override
          leaderboard_bbh_navigate: {choices: 2, docs: 250}

``choices`` gives the random baseline ``1 / choices`` (0 for generative tasks: baseline 0);
``docs``, when given, is the exact number of scored documents the task must have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_ext.errors import LmEvalExtError

SUITES_DIR = Path(__file__).resolve().parent / "suites"
_TASK_KEYS = {"choices", "docs", "n_shot", "metric", "filter"}
_BENCHMARK_KEYS = {"name", "tasks", "n_shot", "metric", "filter", "aggregate"}
_SUITE_KEYS = {
    "name",
    "description",
    "source",
    "hub_model",
    "checkpoints",
    "normalization",
    "benchmarks",
}


class SuiteError(LmEvalExtError):
    """A suite file is missing or malformed."""


@dataclass(frozen=True)
class TaskSpec:
    """One required task: its n-shot, metric(s), filter, number of choices, expected docs."""

    name: str
    n_shot: int
    metrics: tuple[str, ...]
    filter: str = "none"
    choices: int = 0
    docs: int | None = None

    @property
    def baseline(self) -> float:
        """The random-guess score: ``1 / choices`` (0 for generative tasks)."""
        return 1.0 / self.choices if self.choices else 0.0


@dataclass(frozen=True)
class Benchmark:
    """A leaderboard column: tasks whose scores are averaged (unweighted or by size)."""

    name: str
    tasks: tuple[TaskSpec, ...]
    aggregate: str = "unweighted"


@dataclass(frozen=True)
class Suite:
    """A leaderboard's requirements and scoring."""

    name: str
    benchmarks: tuple[Benchmark, ...]
    description: str = ""
    source: str = ""
    hub_model: bool = False
    checkpoints: tuple[str, ...] = ()
    normalization: str = "random_baseline"
    text: str = ""  # the YAML it was loaded from (packaged with a submission)

    @property
    def tasks(self) -> list[TaskSpec]:
        """Every required task, in suite order."""
        return [t for b in self.benchmarks for t in b.tasks]


def builtin_suites() -> list[str]:
    """Names of the suites shipped with the package."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(name_or_path: str | Path) -> Suite:
    """A shipped suite by name, or a suite YAML file by path; a clear error otherwise."""
    path = Path(name_or_path)
    if not path.is_file():
        path = SUITES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise SuiteError(
            f"suite {name_or_path!r}: no such file, and not one of the shipped "
            f"suites {builtin_suites()}"
        )
    return suite_from_text(path.read_text(encoding="utf-8"), str(path))


def suite_from_text(text: str, where: str = "suite") -> Suite:
    """A suite from its YAML text; ``where`` names it in errors."""
    import yaml

    try:
        return _suite(yaml.safe_load(text), text)
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SuiteError(f"{where}: not a valid suite ({type(exc).__name__}: {exc})") from None


def _unknown(data: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ValueError(f"{where}: unknown keys {extra} (allowed: {sorted(allowed)})")


def _metrics(value: Any) -> tuple[str, ...]:
    metrics = (value,) if isinstance(value, str) else tuple(value)
    if not metrics:
        raise ValueError("a task needs at least one metric")
    return metrics


def _suite(data: dict, text: str) -> Suite:
    _unknown(data, _SUITE_KEYS, "suite")
    if data.get("normalization", "random_baseline") not in ("random_baseline", "none"):
        raise ValueError(f"normalization {data['normalization']!r}: random_baseline or none")
    benchmarks = tuple(_benchmark(b) for b in data["benchmarks"])
    return Suite(
        name=str(data["name"]),
        benchmarks=benchmarks,
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        hub_model=bool(data.get("hub_model", False)),
        checkpoints=tuple(str(c) for c in data.get("checkpoints") or ()),
        normalization=str(data.get("normalization", "random_baseline")),
        text=text,
    )


def _benchmark(data: dict) -> Benchmark:
    _unknown(data, _BENCHMARK_KEYS, f"benchmark {data.get('name')!r}")
    if data.get("aggregate", "unweighted") not in ("unweighted", "weighted"):
        raise ValueError(f"benchmark {data['name']!r}: aggregate must be unweighted or weighted")
    tasks = []
    for name, own in (data["tasks"] or {}).items():
        own = own or {}
        _unknown(own, _TASK_KEYS, f"task {name!r}")
        merged = {**{k: data[k] for k in ("n_shot", "metric", "filter") if k in data}, **own}
        tasks.append(
            TaskSpec(
                name=str(name),
                n_shot=int(merged["n_shot"]),
                metrics=_metrics(merged["metric"]),
                filter=str(merged.get("filter", "none")),
                choices=int(merged.get("choices", 0)),
                docs=None if merged.get("docs") is None else int(merged["docs"]),
            )
        )
    return Benchmark(
        name=str(data["name"]),
        tasks=tuple(tasks),
        aggregate=str(data.get("aggregate", "unweighted")),
    )
