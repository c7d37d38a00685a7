"""Minimal stand-ins for what MGM imports but cannot be installed here (parity bench only).

torchvision has no build for this CPU torch; timm (real, installed in the throwaway venv) imports
a few torchvision names at import time, never used on the bench's path. open_clip needs
torchvision too: its stand-in builds the vision trunk exactly as open_clip's ``TimmModel`` does
for ``convnext_*`` (a timm ``ConvNeXt``), with the tiny tower's widths and depths. deepspeed is
only imported (ZeRO-3 paths are off). Every other line that runs is MGM's, timm's, PEFT's or
transformers'.
"""

from __future__ import annotations

from pathlib import Path

_ANY = """
class _Named(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return name


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Named(name, (), {})
"""

STUBS = {
    "torchvision/__init__.py": _ANY,
    "torchvision/ops/__init__.py": _ANY,
    "torchvision/ops/misc.py": _ANY,
    "torchvision/transforms/__init__.py": _ANY,
    "torchvision/transforms/functional.py": _ANY,
    "torchvision/datasets/__init__.py": _ANY,
    "deepspeed/__init__.py": """
import contextlib


class zero:
    @staticmethod
    @contextlib.contextmanager
    def GatheredParameters(*args, **kwargs):
        yield
""",
    "open_clip/__init__.py": "",
    "open_clip/factory.py": """
import json
import os

import torch


def load_state_dict(path, map_location="cpu"):
    state = torch.load(path, map_location=map_location)
    return state.get("state_dict", state)


def get_model_config(name):
    shape = json.loads(os.environ["MGM_BENCH_CONVNEXT"])
    return {"embed_dim": 32, "text_cfg": {},
            "vision_cfg": {"timm_model_name": name, "timm_drop_path": 0.1, **shape}}
""",
    "open_clip/model.py": """
import torch.nn as nn
from timm.models.convnext import ConvNeXt

CLIPVisionCfg = CLIPTextCfg = dict


def _build_vision_tower(embed_dim, vision_cfg, quick_gelu=False, cast_dtype=None):
    visual = nn.Module()
    visual.trunk = ConvNeXt(depths=vision_cfg["depths"], dims=vision_cfg["dims"],
                            drop_path_rate=vision_cfg["timm_drop_path"], num_classes=0)
    visual.head = nn.Identity()
    return visual


def convert_to_custom_text_state_dict(state_dict):
    return state_dict


def resize_pos_embed(state_dict, model, *args, **kwargs):
    return None
""",
}


def write_stubs(root: Path) -> Path:
    """Write the stand-in packages under ``root`` (put it on PYTHONPATH after MGM's checkout)."""
    for rel, source in STUBS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source.lstrip())
    return root
