"""What the resume layer keeps on disk: journal records and files, locks, keys, run outputs.

The bottom layer of ``lm_eval_ext.resume``: it imports nothing from ``online`` or ``offline``.
"""
