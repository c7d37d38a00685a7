"""The lm-eval / transformers internals we rely on still have the shape we use (no model needed).

Every private use lives in ``lm_eval_ext._compat``; each of its seams is checked here, so an
upgrade that moves one fails in this file with the seam's name and what moved.
"""

from __future__ import annotations

import pytest

from lm_eval_ext._compat import CHECKED_ON, all_seams


@pytest.mark.parametrize("seam", all_seams(), ids=lambda s: s.name.split(" ")[0])
def test_seam_has_the_shape_we_use(seam):
    try:
        seam.check()
    except AssertionError as exc:
        pytest.fail(f"{seam.name} (used for {seam.used_for}) changed since {CHECKED_ON}: {exc}")


def test_installed_versions_are_the_checked_ones():
    """Seams are checked on CHECKED_ON; another installed version must be re-checked first."""
    from importlib.metadata import version

    from packaging.version import Version

    def series(text: str, n: int) -> tuple[int, ...]:
        return Version(text).release[:n]

    installed = {name: version(name) for name in CHECKED_ON}
    assert all(
        series(installed[n], len(v.split("."))) == series(v, 9) for n, v in CHECKED_ON.items()
    ), (
        f"installed {installed}, seams checked on {CHECKED_ON}: run this file, adapt "
        "lm_eval_ext/_compat/, then update CHECKED_ON"
    )


def test_no_module_outside_compat_imports_upstream_privates():
    """Private upstream names (``_x`` modules or attributes) are touched only in _compat."""
    import ast
    from pathlib import Path

    import lm_eval_ext

    root = Path(lm_eval_ext.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if "_compat" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and not node.module.startswith(("lm_eval_ext", "__future__"))
            ):
                names = [node.module, *(a.name for a in node.names)]
                if any(part.startswith("_") for n in names for part in n.split(".")):
                    offenders.append(f"{path.relative_to(root)}: from {node.module} import ...")
    assert not offenders, offenders
