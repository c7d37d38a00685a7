"""The resume layer during a run: the journal's options, its seam, the journaled LM, the exit hook.

Imports ``storage`` only; never ``offline`` (the exit hook runs ``lm-eval-ext finalize`` as a
command instead).
"""
