"""Resumable lm-eval runs: a crash-safe request journal behind the ``journal=DIR`` model arg."""
