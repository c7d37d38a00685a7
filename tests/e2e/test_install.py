"""``pip install .`` and ``pip install -e .`` into a fresh venv make lm-eval find our models.

The fresh venv gets no copy of the heavy dependencies: a path-only ``.pth`` line appends the
test environment's site-packages *after* its own, so ``lm_eval_ext`` is importable only through
what ``pip install`` put into the fresh venv.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOLVE = (
    "from lm_eval.api.registry import get_model\n"
    "print(get_model('mgm_lora').__module__, get_model('hf').__name__, get_model('dummy').__name__)"
)


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def _fresh_venv(root: Path) -> Path:
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = sysconfig.get_paths()["purelib"]
    (_site_packages(venv) / "zz_test_deps.pth").write_text(deps + "\n")
    return venv


def _pip_install(venv: Path, *spec: str, cwd: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            *spec,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )


def _autoload_import_us(python: Path, cwd: Path) -> int:
    """Microseconds spent importing our modules at interpreter start (``-X importtime``)."""
    out = subprocess.run(
        [str(python), "-X", "importtime", "-c", "pass"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    cumulative = [
        int(m.group(1))
        for m in re.finditer(r"^import time:\s+\d+ \|\s+(\d+) \|\s+lm_eval_ext", out.stderr, re.M)
    ]
    return max(cumulative, default=0)  # the outermost import includes the nested ones


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_fresh_venv_install_registers_models(tmp_path, editable):
    src = tmp_path / "src"
    shutil.copytree(
        REPO_ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info")
    )
    venv = _fresh_venv(tmp_path)
    _pip_install(venv, *(["-e", str(src)] if editable else [str(src)]), cwd=tmp_path)
    python = venv / "bin" / "python"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    out = subprocess.run(
        [str(python), "-c", RESOLVE], cwd=elsewhere, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["lm_eval_ext.models.mgm_lora", "HFLM", "DummyLM"]

    # the start-up hook imports only our two tiny modules: well under the 20 ms budget
    cost_us = min(_autoload_import_us(python, elsewhere) for _ in range(3))
    assert 0 < cost_us < 20_000

    # the entry point for a future lm-eval with plugin discovery is declared
    eps = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import entry_points; "
            "print([e.value for e in entry_points(group='lm_eval.models')])",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "lm_eval_ext.models.mgm_lora:MGMLoRALM" in eps.stdout
