"""The resume layer after a run, without a model: replay, rescore, merge, finalize, status.

Imports ``storage`` (and nothing of ``online``): it reads journals and run outputs only.
"""
