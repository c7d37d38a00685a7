"""The ``lm-eval-ext`` command: a thin layer over the package's Python API."""
