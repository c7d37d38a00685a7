#!/usr/bin/env bash
# ./run_eval.sh            set up .venv on first use, build the tiny offline model, and run the
#                          bundled demo evaluation through the plain `lm_eval` CLI (mgm_lora,
#                          LoRA merged), printing lm-eval's results table.
# ./run_eval.sh demo-sweep train a tiny Llama on CPU (checkpoint-* dirs + a LoRA adapter), sweep
#                          every checkpoint with lm_eval (2 at a time) and write the report
#                          (learning curves, LoRA vs base) to out/demo-sweep/report/.
# ./run_eval.sh ARGS...    run `lm_eval ARGS...` inside the venv (set up first if needed).
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
STAMP="$VENV/.lm_eval_ext-installed"

setup_venv() {
    # The same commands as the README's set-up section.
    local want
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return
    fi
    echo "run_eval.sh: setting up $VENV (first run: a few minutes)..." >&2
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch==2.13.0
    "$VENV/bin/pip" install --quiet -e ".[test]"
    echo "$want" > "$STAMP"
}

setup_venv

OFFLINE="HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false"
if [ "${1:-}" = "demo-sweep" ]; then
    # one torch thread per cell: two cells share the cores
    exec env $OFFLINE OMP_NUM_THREADS=1 "$VENV/bin/lm-eval-ext" demo-sweep out/demo-sweep --devices 0,1
fi
if [ "$#" -gt 0 ]; then
    exec "$VENV/bin/lm_eval" "$@"
fi

export $OFFLINE
"$VENV/bin/lm-eval-ext" make-tiny-world models/tiny
exec "$VENV/bin/lm_eval" \
    --include_path tasks/ \
    --model mgm_lora \
    --model_args pretrained=models/tiny/tiny-llama,lora=models/tiny/tiny-llama-lora,dtype=float32 \
    --device cpu --batch_size 8 \
    --tasks ext_sample_mc,ext_sample_gen \
    --log_samples --output_path out/demo
