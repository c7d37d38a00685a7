"""The offline demo world: a tiny random Llama, its LoRA adapter, a tokenizer and MC data.

Built from configs with random weights (``lm-eval-ext make-tiny-world DIR``), so the demo
(``run_eval.sh``), the benchmarks and the tests never touch a model hub.
"""
