"""Training and evaluation mechanics: length-grouped batching (``batching``), the chapter-1 classifier loop
(``classifier``), a plain loop for Hugging Face classifiers (``native``), ``transformers.Trainer`` helpers
(``hf_trainer``) and classical baselines (``baselines``). No chapter settings.
"""
