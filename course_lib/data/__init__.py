"""Data: dataset loaders (``loaders``), tokenizer and vocabulary (``text``), word vectors (``vectors``),
images (``images``) and the pretraining / dialogue corpora (``corpora``). No training code, no chapter settings.
"""
