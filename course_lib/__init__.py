"""Companion package of the course *Transfer Learning with Transformers*.

Every model, data loader and training loop that the chapters use lives here, so that the chapters stay short
and the code is tested once. The package is in layers (CONTRIBUTING.md, "Architecture"; checked by
``tests/test_architecture.py``):

- ``env``       cache folder, progress switch, ``quiet_hf``, seeds, device, hub reachability (imports nothing)
- ``config``    PROFILE / SOURCE / SEED handling, the chapter ``Run``; ``hub`` the offline registry;
  ``results`` the per-chapter results files; ``precision`` mixed-precision decisions
- ``data``      loaders, tokenizer and vocabulary, word vectors, images, corpora
- ``nn``        the chapter-1 encoder, classic models, linear-layer wrapping, adapters, LoRA, parameter counts
- ``train``     batching, the classifier loop, the native loop, Trainer helpers, classical baselines
- ``chapters``  one module per chapter: its config (``config_for``), experiments and plots
- ``viz``, ``nbtools``, ``grading``, ``exercises``: shared plots, notebook helpers, exercise checks
"""

__version__ = "0.1.0"

import warnings  # noqa: E402

from course_lib.config import Profile, Run, start_chapter  # noqa: E402,F401
from course_lib.env import show_progress  # noqa: E402

if not show_progress():
    # With COURSE_LIB_PROGRESS=0 (executed pages, tests) no progress bar is drawn, so tqdm's notice that ipywidgets is
    # missing, which it prints when the libraries first import tqdm.auto (before quiet_hf can hide it), says nothing:
    # hide that one named message. With progress bars on, the notice stays: it tells a learner to install ipywidgets.
    warnings.filterwarnings("ignore", message="IProgress not found")
