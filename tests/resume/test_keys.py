"""Journal keys: model identity from file content, request identity from full content."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

from PIL import Image

from lm_eval_ext.resume.storage.keys import identity_hash, model_identity, request_key


def _hash(args: dict) -> str:
    return identity_hash(model_identity(args, {}))


def test_model_identity_follows_content_not_path(tiny_world, tmp_path):
    base = {"pretrained": str(tiny_world.model_dir), "dtype": "float32", "batch_size": 4}
    copy = tmp_path / "copy"
    shutil.copytree(tiny_world.model_dir, copy)
    assert _hash(base) == _hash({**base, "pretrained": str(copy), "batch_size": 16})
    assert _hash(base) != _hash({**base, "lora": str(tiny_world.lora_dir)})
    assert _hash(base) != _hash({**base, "dtype": "bfloat16"})
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # another checkpoint of the same architecture: same names, same sizes
    weights.write_bytes(bytes(data))
    assert _hash(base) != _hash({**base, "pretrained": str(copy)})


def test_fingerprint_cache_is_used(tiny_world):
    cache: dict = {}
    model_identity({"pretrained": str(tiny_world.model_dir)}, cache)
    assert cache and all(len(v[1]) == 64 for v in cache.values())
    poisoned = {k: [v[0], "0" * 64] for k, v in cache.items()}
    fresh = model_identity({"pretrained": str(tiny_world.model_dir)}, {})
    assert model_identity({"pretrained": str(tiny_world.model_dir)}, poisoned) != fresh


def _inst(args: tuple, doc_id: int = 0, doc: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        task_name="t",
        doc_id=doc_id,
        idx=0,
        args=args,
        doc=doc if doc is not None else {"q": "q", "answer": 1},
    )


def test_request_key_covers_images_and_repeats():
    red, blue = Image.new("RGB", (4, 4), "red"), Image.new("RGB", (4, 4), "blue")
    gen = {"until": ["\n"]}

    def key(args, occ=0, doc=0):
        return request_key("m", "generate_until", _inst(args, doc), occ)

    assert key(("q", gen, {"visual": [red]})) == key(("q", gen, {"visual": [red.copy()]}))
    assert key(("q", gen, {"visual": [red]})) != key(("q", gen, {"visual": [blue]}))
    assert key(("q", gen)) != key(("q", gen), occ=1)
    assert key(("q", gen)) != key(("q", gen), doc=1)
    assert request_key("m1", "x", _inst(("q",)), 0) != request_key("m2", "x", _inst(("q",)), 0)


def test_request_key_covers_the_task_doc():
    """Same prompt, different dataset row (e.g. a new dataset revision): not reused."""
    a = request_key("m", "x", _inst(("q",), doc={"q": "q", "answer": 1}), 0)
    b = request_key("m", "x", _inst(("q",), doc={"q": "q", "answer": 2}), 0)
    same = request_key("m", "x", _inst(("q",), doc={"answer": 1, "q": "q"}), 0)
    img = {"image": Image.new("RGB", (4, 4), "red"), "q": "q"}
    assert a != b and a == same
    assert request_key("m", "x", _inst(("q",), doc=img), 0) == request_key(
        "m", "x", _inst(("q",), doc={**img, "image": img["image"].copy()}), 0
    )
