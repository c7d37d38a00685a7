"""Offline test support: a tiny model world and helpers to run the ``lm_eval`` CLI."""
