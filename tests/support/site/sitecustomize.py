"""Test sessions only (on ``PYTHONPATH`` through ``tests/conftest.py``): see
:mod:`lm_eval_index_cache`."""

import lm_eval_index_cache

lm_eval_index_cache.install()
