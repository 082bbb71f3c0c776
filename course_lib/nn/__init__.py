"""Layers and models, no chapter settings: the chapter-1 encoder (``encoder``), masked mean pooling (``pooling``),
the embedding-bag model and LeNet-5 (``classic``), linear-layer wrapping (``wrapping``), bottleneck adapters
(``adapters``), LoRA (``lora``) and parameter counting/freezing (``params``).
"""
