"""lm_eval_ext: extensions for EleutherAI's lm-evaluation-harness.

Importing this package is deliberately cheap (it runs at interpreter start through the
installed ``.pth`` hook); every heavy import lives in the sub-packages.
"""

__version__ = "0.1.0"
