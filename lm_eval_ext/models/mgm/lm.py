"""MGM (Mini-Gemini) behind ``--model mgm_lora``: LoRA + non-LoRA trainables merged, images.

``models.dispatch`` picks :class:`MGMLM` for an MGM ``config.json``. It is lm-eval's
``HFMultimodalLM`` (so lm-eval sends it ``doc_to_image`` tasks) with its model, tokenizer and
request hooks replaced: the model is :class:`~lm_eval_ext.models.mgm.modeling.MGMForCausalLM`,
``loglikelihood`` and ``generate_until`` take images (batched, left-padded), prompts follow
MGM's tokenisation and conversation templates.
"""

from __future__ import annotations

import inspect
from typing import Any

from lm_eval.api.instance import Instance
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import Collator, handle_stop_sequences, postprocess_generated_text
from lm_eval.models.utils_hf import stop_sequences_criteria
from tqdm import tqdm

from lm_eval_ext._compat.lm_eval_models import configured_max_length, replace_model, set_config
from lm_eval_ext.errors import ModelArgsError
from lm_eval_ext.models.lora import LoRAMergeMixin
from lm_eval_ext.models.mgm.adapter import merge_mgm_lora
from lm_eval_ext.models.mgm.config import (
    MGMSettings,
    build_language_config,
    clip_vision_config,
    read_config_json,
)
from lm_eval_ext.models.mgm.images import MGMImageProcessor, read_clip_normalisation
from lm_eval_ext.models.mgm.loader import TowerArgs, load_mgm, local_dir
from lm_eval_ext.models.mgm.prompts import (
    TEMPLATES,
    TOKENIZER_TEMPLATE,
    adds_bos,
    check_template,
    default_template,
    render_chat,
    tokenize_with_images,
)
from lm_eval_ext.models.mgm.requests import (
    Encoded,
    fit_context,
    generation_kwargs,
    image_tokens_by_object,
    request_images,
    score_batch,
    with_placeholders,
)

#: model args of MGM on top of ``hf-multimodal``'s.
MGM_ARGS = frozenset({"conv_template", "vision_tower", "vision_tower_aux", "hidden_act"})
#: ``hf`` args that have no meaning for this loader.
UNSUPPORTED = ("parallelize", "peft", "delta", "autogptq", "gptqmodel", "gguf_file", "tp_plan")


class MGMBaseLM(HFMultimodalLM):
    """lm-eval's ``HFMultimodalLM`` with MGM's model, tokenizer, prompts and request hooks.

    Not registered on its own: :class:`MGMLM` adds the LoRA merge. Expects ``_towers`` and
    ``_conv_template`` to be set before ``__init__`` runs (``MGMLM.__init__`` does).
    """

    # ---- loading hooks (lm-eval's HFLM calls these in __init__) ---------------------------

    def _get_config(self, pretrained: str, *, revision: str = "main", **_: Any) -> None:
        """Read MGM's config.json (AutoConfig rejects MGM types)."""
        self._checkpoint = local_dir(pretrained, revision)
        raw = read_config_json(self._checkpoint)
        self.mgm_settings = MGMSettings.from_config(raw, str(self._checkpoint / "config.json"))
        set_config(self, build_language_config(raw, self._towers.hidden_act))
        clip = clip_vision_config(self.mgm_settings, self._towers.vision_tower)
        mean, std = read_clip_normalisation(
            self._towers.vision_tower or self.mgm_settings.vision_tower
        )
        self.processor = MGMImageProcessor(self.mgm_settings, clip.image_size, mean, std)

    def _create_tokenizer(self, pretrained: Any, tokenizer: Any, **kwargs: Any) -> None:
        """The base's tokenizer (a LoRA dir has none), as ``hf`` loads it."""
        HFLM._create_tokenizer(self, pretrained, tokenizer, **kwargs)

    def _create_model(
        self, pretrained: str, revision: str | None = "main", dtype: Any = "auto", **kwargs: Any
    ) -> None:
        """Load the MGM checkpoint (strict) in eval mode on the device."""
        bad = [k for k, v in kwargs.items() if k in ("load_in_8bit", "load_in_4bit") and v]
        if bad or kwargs.get("quantization_config") is not None:
            raise ModelArgsError(f"mgm_lora (MGM): quantized loading is not supported ({bad})")
        model = load_mgm(
            pretrained, dtype=dtype, device=self.device, revision=revision, towers=self._towers
        )
        replace_model(self, model)

    @property
    def max_length(self) -> int:
        """``max_length`` arg, else the config's ``tokenizer_model_max_length``, else the LM's."""
        return (
            configured_max_length(self)
            or self.mgm_settings.max_length
            or self.config.max_position_embeddings
        )

    # ---- prompts --------------------------------------------------------------------------

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        """The template ``--apply_chat_template`` uses (recorded in the results)."""
        if not chat_template:
            return None
        if self._conv_template == TOKENIZER_TEMPLATE:
            return HFLM.chat_template(self, chat_template)
        example = TEMPLATES[self._conv_template].render([(0, "{user}"), (1, None)])
        return f"MGM conversation template {self._conv_template}: {example!r}"

    def apply_chat_template(
        self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
    ) -> str:
        """MGM's conversation template (or the tokenizer's, with ``conv_template=tokenizer``)."""
        if self._conv_template == TOKENIZER_TEMPLATE:
            return HFLM.apply_chat_template(self, chat_history, add_generation_prompt)
        template = TEMPLATES[self._conv_template]
        return render_chat(template, chat_history, continue_last=not add_generation_prompt)

    def _ids(self, text: str) -> list[int]:
        return tokenize_with_images(
            self.tokenizer, text, im_start_end=self.mgm_settings.use_im_start_end
        )

    def _encode(self, args: tuple) -> Encoded:
        context, continuation = args[0], args[1]
        images = request_images(args[2] if len(args) > 2 else None, self.max_images)
        context = with_placeholders(context, len(images))
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole, ctx = self._ids(context + continuation), self._ids(context)
        cont = whole[len(ctx) :]
        ctx = fit_context(
            ctx,
            len(cont) - 1,
            self.model.tokens_per_image(),
            self.max_length,
            adds_bos(self.tokenizer),
        )
        return Encoded(args, ctx, cont, images)

    # ---- requests -------------------------------------------------------------------------

    def loglikelihood(
        self, requests: list[Instance], disable_tqdm: bool = False
    ) -> list[tuple[float, bool]]:
        """Summed log-probability of each continuation given context (+ images), batched."""
        encoded = [self._encode(req.args) for req in requests]
        order = Collator(
            encoded, sort_fn=lambda r: (-(len(r.context) + len(r.continuation)), tuple(r.context))
        )
        pbar = tqdm(
            total=len(encoded), disable=disable_tqdm or self.rank != 0, desc="MGM loglikelihood"
        )
        results = []
        for chunk in order.get_batched(n=self.batch_size):
            for req, answer in zip(
                chunk, score_batch(self.model, self.processor, chunk), strict=True
            ):
                results.append(answer)
                self.cache_hook.add_partial("loglikelihood", req.args, answer)
                pbar.update(1)
        pbar.close()
        return order.get_original(results)

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Greedy (or sampled) generation with images, batched per generation settings."""
        items = [(req.args, self._encode((req.args[0], "", *req.args[2:]))) for req in requests]
        order = Collator(
            items,
            sort_fn=lambda x: (-len(x[1].context), tuple(x[1].context)),
            group_by="gen_kwargs",
            group_fn=lambda x: x[0][1],
        )
        eos = self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        pbar = tqdm(
            total=len(items), disable=disable_tqdm or self.rank != 0, desc="MGM generate_until"
        )
        results = []
        for chunk in order.get_batched(n=self.batch_size):
            for (args, _), text in zip(chunk, self._generate_chunk(chunk, eos), strict=True):
                results.append(text)
                self.cache_hook.add_partial("generate_until", args, text)
                pbar.update(1)
        pbar.close()
        return order.get_original(results)

    def _generate_chunk(self, chunk: list[tuple[tuple, Encoded]], eos: str) -> list[str]:
        kwargs = generation_kwargs(chunk[0][0][1])
        until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
        max_new = kwargs.pop("max_gen_toks", self.max_gen_toks)
        keep_bos = adds_bos(self.tokenizer)
        batch = [e for _, e in chunk]
        for e in batch:
            e.context = fit_context(
                e.context, 0, self.model.tokens_per_image(), self.max_length - max_new, keep_bos
            )
        feats = image_tokens_by_object(self.model, self.processor, batch)
        out = self.model.generate(
            [e.context for e in batch],
            feats,
            max_new_tokens=max_new,
            stopping_criteria=stop_sequences_criteria(self.tokenizer, until, 0, len(batch)),
            pad_token_id=self.tokenizer.pad_token_id,
            **kwargs,
        )
        texts = [self.tok_decode(row.tolist()) for row in out]
        return [postprocess_generated_text(t, until, None) for t in texts]

    def loglikelihood_rolling(
        self, requests: list[Instance], disable_tqdm: bool = False
    ) -> list[float]:
        """Not offered: MGM is evaluated on prompted tasks."""
        raise NotImplementedError("mgm_lora (MGM): loglikelihood_rolling is not supported")


class MGMLM(LoRAMergeMixin, MGMBaseLM):
    """``mgm_lora`` for MGM checkpoints (Gemma or Llama language model).

    Args:
        pretrained: MGM checkpoint dir or hub id (config.json + weights + tokenizer).
        lora: MGM LoRA training output (adapter + ``non_lora_trainables.bin``), merged.
        conv_template: ``gemma`` / ``vicuna_v1`` / ``llama_3`` (MGM's) or ``tokenizer`` (the
            tokenizer's chat template) for ``--apply_chat_template``; default from the LM.
        vision_tower, vision_tower_aux: tower checkpoints, read only where the MGM checkpoint
            has no weights for that tower (and for CLIP's config when it is a local dir).
        hidden_act: override the language model's activation (default: as MGM ran it).
        **kwargs: ``hf-multimodal`` args (``batch_size``, ``max_length``, ``dtype``, ...).
    """

    accepts_model_object = False

    def __init__(
        self,
        pretrained: Any,
        conv_template: str | None = None,
        vision_tower: str | None = None,
        vision_tower_aux: str | None = None,
        hidden_act: str | None = None,
        **kwargs: Any,
    ) -> None:
        given = [k for k in UNSUPPORTED if kwargs.get(k)]
        if given:
            raise ModelArgsError(f"mgm_lora (MGM): {', '.join(given)} not supported for MGM")
        self._towers = TowerArgs(vision_tower, vision_tower_aux, hidden_act)
        self._conv_template = check_template(conv_template) if conv_template else None
        kwargs.setdefault("image_string", "<image>")
        super().__init__(pretrained, **kwargs)
        self._conv_template = self._conv_template or default_template(
            self.mgm_settings.family, self.tokenizer
        )

    @classmethod
    def upstream_model_args(cls) -> frozenset[str]:
        """``hf`` args + ``hf-multimodal``'s own + MGM's."""
        params = inspect.signature(HFMultimodalLM.__init__).parameters.values()
        own = {p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD}
        return super().upstream_model_args() | own | MGM_ARGS

    def _merge_adapter(self, model: Any, pretrained: str) -> Any:
        """Non-LoRA trainables, then the adapter merged into the language model only."""
        return merge_mgm_lora(model, self._lora, revision=self._lora_revision, base_name=pretrained)
