"""Loading MGM checkpoints: layouts, towers, Gemma's scale and GELU, and errors that name keys."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from lm_eval_ext.errors import AdapterMismatchError, CheckpointError
from lm_eval_ext.models.mgm.adapter import merge_mgm_lora
from lm_eval_ext.models.mgm.loader import TowerArgs, load_mgm
from lm_eval_ext.models.mgm.modeling import IMAGE_TOKEN_INDEX
from lm_eval_ext.models.mgm.weights import read_checkpoint

ROWS = [[2, 50, 60, IMAGE_TOKEN_INDEX, 70, 80, 90]]


def _logits(model, rows=ROWS):
    torch.manual_seed(0)
    image = [[t] for t in model.image_tokens([_image_input(model)])]
    return model.logits(rows, image)


def _image_input(model):
    from lm_eval_ext.models.mgm.modeling import ImageInput

    gen = torch.Generator().manual_seed(5)
    return ImageInput(
        torch.randn(1, 3, 56, 56, generator=gen), torch.randn(3, 112, 112, generator=gen)
    )


def test_sharded_single_and_bin_layouts_load(mgm_world):
    single, sharded = load_mgm(str(mgm_world.gemma_dir)), load_mgm(str(mgm_world.gemma_sharded_dir))
    assert (mgm_world.gemma_sharded_dir / "model.safetensors.index.json").is_file()
    torch.testing.assert_close(_logits(single), _logits(sharded), atol=0, rtol=0)
    llama = load_mgm(str(mgm_world.llama_dir))
    assert (mgm_world.llama_dir / "pytorch_model.bin").is_file()
    assert _logits(llama).shape[1] == len(ROWS[0]) - 1 + llama.tokens_per_image()


def test_every_checkpoint_weight_is_used_and_towers_come_from_the_checkpoint(mgm_world):
    model = load_mgm(str(mgm_world.gemma_dir))
    tensors = read_checkpoint(mgm_world.gemma_dir)
    state = model.state_dict()
    assert set(tensors) == set(state) - {"language_model.lm_head.weight"}  # tied to embed_tokens
    for key in (
        "vision_tower.encoder.layers.1.mlp.fc1.weight",
        "vision_tower_aux.vision_stages.3.blocks.0.gamma",
        "vlm_uni_val_projector.1.weight",
    ):
        torch.testing.assert_close(state[key], tensors[key], atol=0, rtol=0)


def test_gemma_image_features_are_scaled_and_gelu_is_exact(mgm_world):
    model = load_mgm(str(mgm_world.gemma_dir))
    feats = model.image_tokens([_image_input(model)])
    embeds, _, positions = model.embed(ROWS, [feats])
    h = model.config.hidden_size
    n = feats[0].shape[0]
    torch.testing.assert_close(embeds[0, 3 : 3 + n], feats[0] * h**0.5)
    raw = model.language_model.get_input_embeddings().weight[torch.tensor([2, 50, 60])]
    torch.testing.assert_close(embeds[0, :3], raw * h**0.5)  # text: scaled by embed_tokens
    act = model.language_model.model.layers[0].mlp.act_fn
    x = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(act(x), torch.nn.functional.gelu(x))  # not the tanh form
    assert positions[0].tolist() == list(range(len(ROWS[0]) - 1 + n))
    llama = load_mgm(str(mgm_world.llama_dir))
    feats = llama.image_tokens([_image_input(llama)])
    torch.testing.assert_close(llama.embed(ROWS, [feats])[0][0, 3 : 3 + n], feats[0])


def _copy_without(src, dst, drop):
    shutil.copytree(src, dst)
    tensors = load_file(str(dst / "model.safetensors"))
    save_file({k: v for k, v in tensors.items() if not drop(k)}, str(dst / "model.safetensors"))
    return dst


def test_missing_vlm_uni_weight_is_an_error_naming_file_and_key(mgm_world, tmp_path):
    bad = _copy_without(
        mgm_world.gemma_dir, tmp_path / "bad", lambda k: k == "model.vlm_uni_aux_projector.1.weight"
    )
    with pytest.raises(
        CheckpointError, match=r"missing .*model\.vlm_uni_aux_projector\.1\.weight"
    ) as err:
        load_mgm(str(bad))
    assert str(bad) in str(err.value)


def test_unexpected_key_is_an_error(mgm_world, tmp_path):
    bad = tmp_path / "extra"
    shutil.copytree(mgm_world.gemma_dir, bad)
    tensors = load_file(str(bad / "model.safetensors"))
    tensors["model.vlm_uni_extra.weight"] = torch.zeros(2)
    save_file(tensors, str(bad / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"match no weight.*model\.vlm_uni_extra\.weight"):
        load_mgm(str(bad))


def test_towers_missing_from_the_checkpoint_come_from_the_tower_dirs(mgm_world, tmp_path):
    bare = _copy_without(mgm_world.gemma_dir, tmp_path / "bare", lambda k: "vision_tower" in k)
    config = json.loads((bare / "config.json").read_text())
    config["mm_vision_tower"] = "openai/clip-vit-large-patch14-336"  # a hub name, not here
    config["mm_vision_tower_aux"] = "model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B"
    (bare / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"no vision_tower weights .*Pass vision_tower=DIR"):
        load_mgm(str(bare))
    towers = TowerArgs(str(mgm_world.clip_dir), str(mgm_world.aux_dir))
    full = load_mgm(str(mgm_world.gemma_dir))
    torch.testing.assert_close(_logits(load_mgm(str(bare), towers=towers)), _logits(full))


def test_trainables_for_another_shape_name_the_file_and_keys(mgm_world, tmp_path):
    lora = tmp_path / "lora"
    shutil.copytree(mgm_world.lora_dir, lora)
    tensors = torch.load(lora / "non_lora_trainables.bin")
    key = "base_model.model.model.mm_projector.0.weight"
    tensors[key] = torch.zeros(7, 3)
    torch.save(tensors, lora / "non_lora_trainables.bin")
    with pytest.raises(
        CheckpointError, match=r"non_lora_trainables\.bin.*model\.mm_projector\.0\.weight \(7, 3\)"
    ):
        merge_mgm_lora(load_mgm(str(mgm_world.gemma_dir)), str(lora))


def test_adapter_for_another_base_is_refused(mgm_world, tmp_path):
    """The Gemma MGM's adapter on the Llama MGM: another k_proj shape (GQA vs MHA) -> error."""
    lora = tmp_path / "lora"
    shutil.copytree(mgm_world.lora_dir, lora)
    (lora / "non_lora_trainables.bin").unlink()
    with pytest.raises(AdapterMismatchError, match=rf"(?s)lora={lora}: .*k_proj") as err:
        merge_mgm_lora(load_mgm(str(mgm_world.llama_dir)), str(lora), base_name="llama-mgm")
    assert "llama-mgm" in str(err.value) and "size mismatch" in str(err.value)


def test_adapter_on_the_vision_tower_is_refused(mgm_world, tmp_path):
    """PEFT stays off the towers: adapter tensors for CLIP layers match no module -> error."""
    lora = tmp_path / "lora"
    shutil.copytree(mgm_world.lora_dir, lora)
    (lora / "non_lora_trainables.bin").unlink()
    weights = torch.load(lora / "adapter_model.bin")
    name = (
        "base_model.model.model.vision_tower.vision_tower.vision_model.encoder.layers.0."
        "self_attn.q_proj.lora_A.weight"
    )
    weights[name] = torch.zeros(4, 32)
    torch.save(weights, lora / "adapter_model.bin")
    with pytest.raises(AdapterMismatchError, match=r"match no module.*vision_tower"):
        merge_mgm_lora(load_mgm(str(mgm_world.gemma_dir)), str(lora))
