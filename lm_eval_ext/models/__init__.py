"""Model wrappers registered with lm-eval (import them lazily: see ``lm_eval_ext.registration``)."""
